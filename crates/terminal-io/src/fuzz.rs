//! Fuzz target body for the terminal's configuration file, as a plain function: the cargo-fuzz target in `fuzz/`
//! calls it, and a test runs it over the configs in `fixtures/terminals/` and arbitrary text.

use std::path::Path;

use crate::config::FileConfig;

/// Any bytes as a terminal config (TOML): no panic; what parses writes back as TOML that parses to the same config.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match FileConfig::from_toml(text, Path::new("fuzz input")) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("a config writes as TOML");
            let again =
                FileConfig::from_toml(&written, Path::new("written")).expect("a written config parses");
            assert_eq!(again, config, "the config changed in a round trip");
            let _ = config.kick_addr();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
