//! The config fuzz body (`ccv_terminal_io::fuzz::config`) over every config in `fixtures/terminals/` and over
//! mutated and arbitrary text, so CI exercises what the cargo-fuzz target `terminal_config` runs.

use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminals");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("fixtures/terminals").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("read")).collect()
}

#[test]
fn every_fixture_config_round_trips() {
    let seeds = seeds();
    assert!(seeds.len() >= 8);
    for s in &seeds {
        ccv_terminal_io::fuzz::config(s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_configs_never_break_the_body(pick in any::<usize>(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let seeds = seeds();
        let mut s = seeds[pick % seeds.len()].clone();
        let i = at % s.len();
        s[i] = byte;
        s.truncate(cut % (s.len() + 1));
        ccv_terminal_io::fuzz::config(&s);
    }

    #[test]
    fn arbitrary_text_never_breaks_the_body(text in "[a-z_\\[\\]=\".0-9 \n]{0,200}") {
        ccv_terminal_io::fuzz::config(text.as_bytes());
    }
}
