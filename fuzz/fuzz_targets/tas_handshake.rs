#![no_main]
//! Any bytes as the first OPI frame of a TAS connection (the hand-shake) and as its answer: no panic; an accepted hello is built again identically (body: `ccv_wire::fuzz::tas_handshake`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_wire::fuzz::tas_handshake(data));
