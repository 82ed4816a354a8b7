//! The fuzz bodies of this crate (`ccv_wire::fuzz`) over seeds and arbitrary or mutated bytes, so CI exercises
//! what the cargo-fuzz targets `cloud_command`, `cloud_event` and `tas_handshake` run.

use ccv_wire::cloud::{Command, ConnectTas, Event};
use ccv_wire::fuzz;
use ccv_wire::handshake::hello_message;
use ccv_wire::reason::KickRefusal;
use proptest::prelude::*;

fn command_seeds() -> Vec<Vec<u8>> {
    let kick = |host: Option<&str>, port| {
        Command::ConnectTas(ConnectTas {
            kick_id: "k-1".into(),
            reference: "TL1".into(),
            host: host.map(str::to_owned),
            port,
            expires_at: 1_800_000_000_000,
        })
        .to_json()
    };
    vec![
        kick(None, None),
        kick(Some("tas.example"), Some(5555)),
        br#"{"type":"reboot"}"#.to_vec(),
        br#"{"type":"connect-tas","kickId":1}"#.to_vec(),
        b"[]".to_vec(),
        b"{".to_vec(),
    ]
}

fn event_seeds() -> Vec<Vec<u8>> {
    vec![
        Event::kick_refused("k-1".into(), "TL1".into(), KickRefusal::DayClosed).to_json(),
        br#"{"type":"tas-connected","reference":"TL1","tas":"localhost:5555"}"#.to_vec(),
        b"null".to_vec(),
    ]
}

fn handshake_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> =
        [hello_message("29000001", Some("TL1"), Some("14.0.11.01")), hello_message("29000001", None, None)]
            .iter()
            .map(|m| ccv_opi::encode(m, ccv_opi::Encoding::Utf8))
            .collect();
    let hello = String::from_utf8(seeds[0].clone()).expect("UTF-8");
    seeds.push(hello.replace("29000001", "2900000X").into_bytes());
    seeds.push(hello.replace("tmsId", "tmsID").into_bytes());
    seeds
}

/// The hand-written seeds of the cargo-fuzz targets (`fuzz/seeds/TARGET/`).
fn committed(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("fuzz/seeds").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("read")).collect()
}

#[test]
fn the_committed_seeds_are_what_their_targets_accept() {
    for s in committed("cloud_command") {
        assert!(ccv_wire::cloud::parse_command(&s).is_ok(), "{}", String::from_utf8_lossy(&s));
        fuzz::cloud_command(&s);
    }
    for s in committed("cloud_event") {
        assert!(Event::from_json(&s).is_ok(), "{}", String::from_utf8_lossy(&s));
        fuzz::cloud_event(&s);
    }
    let hello = committed("tas_handshake");
    let accepted = hello.iter().filter(|s| match ccv_opi::decode(s) {
        Ok(ccv_opi::Message::ServiceRequest(r)) => ccv_wire::handshake::parse_hello(&r).is_ok(),
        _ => false,
    });
    assert_eq!(accepted.count(), hello.len(), "every hand-shake seed is a hello the TAS accepts");
    for s in &hello {
        fuzz::tas_handshake(s);
    }
}

#[test]
fn the_bodies_hold_on_their_seeds() {
    for s in command_seeds() {
        fuzz::cloud_command(&s);
    }
    for s in event_seeds() {
        fuzz::cloud_event(&s);
    }
    for s in handshake_seeds() {
        fuzz::tas_handshake(&s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_break_a_body(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz::cloud_command(&data);
        fuzz::cloud_event(&data);
        fuzz::tas_handshake(&data);
    }

    #[test]
    fn mutated_seeds_never_break_a_body(which in 0usize..3, pick in any::<usize>(), at in any::<usize>(), byte in any::<u8>()) {
        let seeds = match which { 0 => command_seeds(), 1 => event_seeds(), _ => handshake_seeds() };
        let mut s = seeds[pick % seeds.len()].clone();
        if !s.is_empty() {
            let i = at % s.len();
            s[i] = byte;
        }
        match which { 0 => fuzz::cloud_command(&s), 1 => fuzz::cloud_event(&s), _ => fuzz::tas_handshake(&s) }
    }
}
