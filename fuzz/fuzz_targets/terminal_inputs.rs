#![no_main]
//! Arbitrary input sequences into the terminal core (body: `ccv_terminal::fuzz::inputs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| ccv_terminal::fuzz::inputs(data));
