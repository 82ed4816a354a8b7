#![no_main]
//! Any bytes as what a client sends to the IoT endpoint once TLS stands (the first byte picks a terminal's or the
//! payment API's certificate), through the connection's own code, policies, limits and broker (body:
//! `ccv_iot::fuzz::connection`, also run by the tests).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ccv_iot::fuzz::connection(data);
});
