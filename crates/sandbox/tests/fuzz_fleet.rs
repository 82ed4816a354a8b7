//! The fleet fuzz body (`ccv_sandbox::fuzz::fleet`) over `fixtures/sandbox.toml` and mutated and arbitrary text,
//! so CI exercises what the cargo-fuzz target `sandbox_fleet` runs.

use proptest::prelude::*;

const DEFAULT_FLEET: &str = include_str!("../../../fixtures/sandbox.toml");

#[test]
fn the_default_fleet_and_a_range_hold() {
    ccv_sandbox::fuzz::fleet(DEFAULT_FLEET.as_bytes());
    let ranged = DEFAULT_FLEET.replace(
        "# [[terminal]]\n# tms_id = \"30000000\"\n# count = 1000",
        "[[terminal]]\ntms_id = \"30000000\"\ncount = 1000",
    );
    ccv_sandbox::fuzz::fleet(ranged.as_bytes());
    // A range that overlaps a declared terminal: refused, not a fleet with a TMS ID twice.
    ccv_sandbox::fuzz::fleet(
        DEFAULT_FLEET.replace("tms_id = \"29000010\"", "tms_id = \"29000001\"").as_bytes(),
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_fleets_never_break_the_body(at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut s = DEFAULT_FLEET.as_bytes().to_vec();
        let i = at % s.len();
        s[i] = byte;
        s.truncate(cut % (s.len() + 1));
        ccv_sandbox::fuzz::fleet(&s);
    }

    #[test]
    fn arbitrary_text_never_breaks_the_body(text in "[a-z_\\[\\]=\".0-9 \n]{0,200}") {
        ccv_sandbox::fuzz::fleet(text.as_bytes());
    }
}
