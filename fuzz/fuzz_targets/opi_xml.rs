//! Any bytes as one OPI message: decoding never panics; whatever decodes re-encodes and decodes
//! to the same message (the body is `ccv_opi::fuzz::xml`, also run as a test over the fixtures).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_opi::fuzz::xml(data));
