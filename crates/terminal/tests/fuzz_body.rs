//! The `terminal_inputs` fuzz body on stable: random byte strings (proptest) never panic and keep
//! the invariants the body checks.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn arbitrary_input_sequences_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        ccv_terminal::fuzz::inputs(&data);
    }
}
