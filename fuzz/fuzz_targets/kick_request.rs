#![no_main]
//! Any bytes on a connection to the local-kick listener, through its own HTTP stack (the first byte picks the CORS
//! profile and whether a TAS override is allowed): no panic; one HTTP answer; no kick naming a TAS reaches the
//! terminal unless allowed (body: `ccv_terminal_io::fuzz::kick_request`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ccv_terminal_io::fuzz::kick_request(data);
});
