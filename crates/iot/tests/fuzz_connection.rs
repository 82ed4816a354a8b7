//! The connection fuzz body (`ccv_iot::fuzz::connection`) over seeds made with rumqttc's codec (a terminal that
//! subscribes to its commands, one that reaches for another's, the payment API publishing a kick, QoS 2, MQTT 5,
//! garbage) and over mutated and arbitrary bytes. `WRITE_FUZZ_SEEDS=1` also writes the seeds to
//! `fuzz/seeds/iot_connection/` for the cargo-fuzz target.

use bytes::BytesMut;
use ccv_iot::fuzz::connection;
use proptest::prelude::*;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, ConnectReturnCode, Packet, Publish, Subscribe};

fn encode(who: u8, packets: &[Packet]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for p in packets {
        p.write(&mut buf, usize::MAX).expect("a packet encodes");
    }
    let mut out = vec![who];
    out.extend_from_slice(&buf);
    out
}

fn connect(id: &str, clean: bool) -> Packet {
    let mut c = Connect::new(id);
    c.clean_session = clean;
    c.keep_alive = 30;
    Packet::Connect(c)
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let kick = br#"{"type":"connect-tas","kickId":"k-1","reference":"TL1","expiresAt":1800000000000}"#;
    let mut publish = Publish::new("ccv/NL-CAT/T1/cmd", QoS::AtLeastOnce, kick.to_vec());
    publish.pkid = 1;
    vec![
        (
            "terminal_subscribes",
            encode(
                0,
                &[
                    connect("T1", false),
                    Packet::Subscribe(Subscribe::new("ccv/NL-CAT/T1/cmd", QoS::AtLeastOnce)),
                    Packet::PingReq,
                    Packet::Disconnect,
                ],
            ),
        ),
        (
            "terminal_reaches_for_another",
            encode(
                0,
                &[
                    connect("T1", true),
                    Packet::Subscribe(Subscribe::new("ccv/NL-CAT/T2/cmd", QoS::AtLeastOnce)),
                ],
            ),
        ),
        ("terminal_takes_another_id", encode(0, &[connect("T2", true)])),
        (
            "payment_api_kicks",
            encode(1, &[connect("vpos-1", true), Packet::Publish(publish.clone()), Packet::Disconnect]),
        ),
        ("terminal_publishes_a_kick", encode(0, &[connect("T1", true), Packet::Publish(publish)])),
        (
            "qos2",
            encode(
                0,
                &[
                    connect("T1", true),
                    Packet::Subscribe(Subscribe::new("ccv/NL-CAT/T1/cmd", QoS::ExactlyOnce)),
                ],
            ),
        ),
        ("not_connect_first", encode(0, &[Packet::PingReq])),
        ("garbage", vec![0, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
    ]
}

#[test]
fn each_seed_gets_the_answer_the_endpoint_gives_it() {
    if std::env::var_os("WRITE_FUZZ_SEEDS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/iot_connection");
        std::fs::create_dir_all(&dir).expect("seed directory");
        for (name, bytes) in seeds() {
            std::fs::write(dir.join(name), bytes).expect("write a seed");
        }
    }
    let ok = Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false));
    let not_authorized = Packet::ConnAck(ConnAck::new(ConnectReturnCode::NotAuthorized, false));
    for (name, bytes) in seeds() {
        let answer = connection(&bytes);
        match name {
            "terminal_subscribes" => {
                assert_eq!(answer.first(), Some(&ok), "{name}");
                assert!(matches!(answer.get(1), Some(Packet::SubAck(_))), "{name}: {answer:?}");
                assert!(matches!(answer.get(2), Some(Packet::PingResp)), "{name}: {answer:?}");
            }
            "payment_api_kicks" => {
                assert_eq!(answer.first(), Some(&ok), "{name}");
                assert!(matches!(answer.get(1), Some(Packet::PubAck(_))), "{name}: {answer:?}");
            }
            "terminal_takes_another_id" => {
                assert_eq!(answer, std::slice::from_ref(&not_authorized), "{name}")
            }
            // A policy violation or QoS 2 ends the connection without an acknowledgement, as IoT Core does (the
            // CONNACK may not be out yet: the client sent everything at once).
            "terminal_reaches_for_another" | "terminal_publishes_a_kick" | "qos2" => {
                assert!(answer.iter().all(|p| *p == ok), "{name}: {answer:?}")
            }
            _ => assert!(answer.is_empty(), "{name}: {answer:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_seeds_never_break_the_body(pick in any::<usize>(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let seeds = seeds();
        let mut s = seeds[pick % seeds.len()].1.clone();
        let i = at % s.len();
        s[i] = byte;
        s.truncate(cut % (s.len() + 1));
        let _ = connection(&s);
    }

    #[test]
    fn arbitrary_bytes_never_break_the_body(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = connection(&data);
    }
}
