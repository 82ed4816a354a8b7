//! Fuzz target bodies for what this crate reads from outside, as plain functions: the cargo-fuzz targets in
//! `fuzz/` call them, and the tests run them over seeds and arbitrary bytes, so CI on stable exercises them.
//! Each checks properties, not only "no panic": what parses serialises and parses back to the same value.

use crate::cloud::{Event, parse_command};
use crate::handshake::{answer, check_answer, hello_message, parse_hello};

/// Any bytes as a cloud-kick command payload (what a terminal reads on its command topic).
pub fn cloud_command(data: &[u8]) {
    match parse_command(data) {
        Ok(command) => {
            let again = parse_command(&command.to_json()).expect("a serialised command parses");
            assert_eq!(again, command, "the command changed in a round trip");
        }
        Err(e) => {
            let _ = (e.to_string(), e.code(), Event::from_command_error(&e).to_json());
        }
    }
}

/// Any bytes as a terminal event payload (what the payment API reads on a terminal's event topic).
pub fn cloud_event(data: &[u8]) {
    if let Ok(event) = Event::from_json(data) {
        let again = Event::from_json(&event.to_json()).expect("a serialised event parses");
        assert_eq!(again, event, "the event changed in a round trip");
        let _ = (event.kick_id(), event.as_duplicate());
    }
}

/// Any bytes as the first OPI frame of a TAS connection (the terminal's hand-shake), and as the TAS's answer to
/// it: what the TAS accepts is a hello that the terminal side builds again identically.
pub fn tas_handshake(data: &[u8]) {
    let Ok(message) = ccv_opi::decode(data) else { return };
    let _ = check_answer(&message).map_err(|e| e.to_string());
    let ccv_opi::Message::ServiceRequest(req) = &message else { return };
    match parse_hello(req) {
        Ok(hello) => {
            let built = hello_message(&hello.tms_id, hello.reference.as_deref(), hello.software.as_deref());
            let bytes = ccv_opi::encode(&built, ccv_opi::Encoding::Utf8);
            let decoded = ccv_opi::decode(&bytes).expect("a built hello decodes");
            let ccv_opi::Message::ServiceRequest(again) = &decoded else {
                panic!("a hello is a ServiceRequest")
            };
            assert_eq!(parse_hello(again).as_ref(), Ok(&hello), "the hello changed in a round trip");
            let _ = answer(req, ccv_opi::OverallResult::Success);
        }
        Err(e) => {
            let _ = (e.to_string(), answer(req, ccv_opi::OverallResult::Failure));
        }
    }
}
