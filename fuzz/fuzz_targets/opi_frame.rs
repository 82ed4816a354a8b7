//! Any bytes as a framed OPI stream: framing never panics and does not depend on how the stream
//! is chunked; every frame's XML goes through the message checks (`ccv_opi::fuzz::frames`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_opi::fuzz::frames(data));
