#![no_main]
//! Any bytes as a terminal event payload: no panic; what parses round-trips (body: `ccv_wire::fuzz::cloud_event`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_wire::fuzz::cloud_event(data));
