#![no_main]
//! Any bytes as a terminal config file (TOML): no panic; what parses writes back and parses to the same config (body: `ccv_terminal_io::fuzz::config`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_terminal_io::fuzz::config(data));
