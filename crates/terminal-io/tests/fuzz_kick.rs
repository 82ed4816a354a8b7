//! The kick-request fuzz body (`ccv_terminal_io::fuzz::kick_request`) over the seeds of its cargo-fuzz target
//! (`fuzz/seeds/kick_request/`: a kick, a preflight, a kick naming a TAS, old firmware, chunked, unknown paths)
//! and over mutated and arbitrary bytes.

use proptest::prelude::*;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/kick_request");

fn seeds() -> Vec<Vec<u8>> {
    let mut files: Vec<_> =
        std::fs::read_dir(DIR).expect("fuzz/seeds/kick_request").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("read")).collect()
}

#[test]
fn each_seed_gets_the_answer_the_listener_gives_it() {
    let expected = [
        ("kick.http", 202),
        ("kick_empty.http", 202),
        ("kick_tas.http", 403),
        ("kick_tas_allowed.http", 202),
        ("preflight.http", 204),
        ("preflight_null.http", 403),
        ("old_firmware.http", 202),
        ("chunked.http", 400),
        ("not_found.http", 404),
        // Found by the fuzzer: an HTTP/1.0 kick without Content-Length (the body runs to the end of the stream) is
        // answered in HTTP/1.0; an unknown field in the body is ignored.
        ("http10_no_length.http", 202),
    ];
    assert_eq!(seeds().len(), expected.len(), "a new seed needs its answer here");
    for (name, status) in expected {
        let data = std::fs::read(format!("{DIR}/{name}")).expect("seed");
        assert_eq!(ccv_terminal_io::fuzz::kick_request(&data), Some(status), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_requests_never_break_the_body(pick in any::<usize>(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let seeds = seeds();
        let mut s = seeds[pick % seeds.len()].clone();
        let i = at % s.len();
        s[i] = byte;
        s.truncate(cut % (s.len() + 1));
        let _ = ccv_terminal_io::fuzz::kick_request(&s);
    }

    #[test]
    fn arbitrary_bytes_never_break_the_body(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ccv_terminal_io::fuzz::kick_request(&data);
    }
}
