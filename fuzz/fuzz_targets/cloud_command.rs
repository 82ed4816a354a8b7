#![no_main]
//! Any bytes as a cloud-kick command payload: no panic; what parses serialises and parses to the same command (body: `ccv_wire::fuzz::cloud_command`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_wire::fuzz::cloud_command(data));
