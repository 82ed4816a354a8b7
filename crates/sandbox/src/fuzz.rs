//! Fuzz target body for the sandbox's fleet file, as a plain function: the cargo-fuzz target in `fuzz/` calls it,
//! and a test runs it over `fixtures/sandbox.toml` and arbitrary text.

use std::path::Path;

use crate::fleet::{Fleet, MAX_TERMINALS};

/// Any bytes as a fleet file (TOML): no panic, no file read (the directory does not exist), and what parses keeps
/// the fleet's rules: at most [`MAX_TERMINALS`] terminals, unique TMS IDs, each of a declared merchant.
pub fn fleet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Fleet::parse(text, "fuzz input", Path::new("/nonexistent/ccv-emu-fuzz")) {
        Ok(fleet) => {
            assert!(fleet.terminals.len() <= MAX_TERMINALS, "{} terminals", fleet.terminals.len());
            let mut ids: Vec<&str> = fleet.terminals.iter().map(|t| t.spec.tms_id.as_str()).collect();
            ids.sort_unstable();
            let n = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), n, "a TMS ID twice in a fleet that parsed");
            for t in &fleet.terminals {
                assert!(
                    fleet.merchants.iter().any(|m| m.name == t.spec.merchant),
                    "terminal {} of an undeclared merchant {}",
                    t.spec.tms_id,
                    t.spec.merchant
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
