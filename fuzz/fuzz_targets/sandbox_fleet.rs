#![no_main]
//! Any bytes as a sandbox fleet file (TOML): no panic, no file read; what parses keeps the fleet's rules (body: `ccv_sandbox::fuzz::fleet`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_sandbox::fuzz::fleet(data));
