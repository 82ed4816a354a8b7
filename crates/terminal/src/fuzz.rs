//! The body of the `terminal_inputs` fuzz target: arbitrary bytes become a sequence of inputs.
//!
//! Each input takes one opcode byte and up to a few argument bytes; time advances by an amount
//! read from the bytes. After every step the outputs are drained and a few invariants are checked
//! (they panic, which is what a fuzzer reports). The same body runs in an ordinary `#[test]`.

use ccv_opi::{
    Amount, CardRequestType, CardServiceRequest, Currency, Header, Message, ServiceRequest,
    ServiceRequestType, WireEnum,
};

use crate::cards::TestCard;
use crate::config::{HostPort, TerminalConfig};
use crate::input::{
    CardEvent, Channel, CloudCommand, CloudKick, Input, Key, LocalKick, MqttEvent, TasEvent, TmsChange,
};
use crate::output::{KickReply, Output};
use crate::reason::{MqttDownReason, TasDialFailure};
use crate::terminal::Terminal;
use crate::time::Timestamp;
use crate::version::SoftwareVersion;

/// At most this many inputs per run.
pub const MAX_STEPS: usize = 4096;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }
}

fn header(n: u8) -> Header {
    Header {
        application_sender: None,
        workstation_id: "POS1".into(),
        pop_id: None,
        request_id: n.to_string(),
    }
}

/// Runs one input sequence decoded from `data`.
pub fn inputs(data: &[u8]) {
    let mut b = Bytes(data);
    let config = match b.u8() % 3 {
        0 => TerminalConfig::default(),
        1 => TerminalConfig::cloud_connect_1(),
        _ => TerminalConfig::legacy(),
    };
    let mut t = Terminal::new(config, u64::from(b.u16()));
    let mut now = Timestamp::from_secs(1_795_879_800);
    let mut last_version = t.software().clone();
    let mut net: i128 = 0;
    for _ in 0..MAX_STEPS {
        if b.0.is_empty() {
            break;
        }
        let op = b.u8();
        now = now.plus_millis(u64::from(b.u8()) * 100);
        let input = match op % 25 {
            0 => Input::Key(Key::Digit(b.u8() % 10)),
            1 => Input::Key(Key::Ok),
            2 => Input::Key(Key::Stop),
            3 => Input::Key(Key::Menu),
            4 => Input::Key(Key::Clear),
            5 => Input::LocalKick(LocalKick {
                source: "fuzz".into(),
                port: if b.u8() % 2 == 0 { 4105 } else { b.u16() },
                reference: Some("r".into()),
                tas: None,
            }),
            6 => Input::CloudKick(CloudKick {
                kick_id: (b.u8() % 8).to_string(),
                reference: None,
                expires_at: now.plus_millis(u64::from(b.u8()) * 100),
                tas: (b.u8() % 2 == 0).then(|| HostPort::new("127.0.0.1", 5555)),
            }),
            7 => Input::Tas(match b.u8() % 3 {
                0 => TasEvent::Connected,
                1 => TasEvent::DialFailed(TasDialFailure::Refused),
                _ => TasEvent::Disconnected,
            }),
            8 => Input::Mqtt(match b.u8() % 3 {
                0 => MqttEvent::Connected,
                1 => MqttEvent::ConnectFailed(MqttDownReason::Tls),
                _ => MqttEvent::Disconnected,
            }),
            9 | 10 => {
                let rt = [
                    CardRequestType::CardPayment,
                    CardRequestType::PaymentRefund,
                    CardRequestType::PaymentReversal,
                    CardRequestType::AbortRequest,
                ][usize::from(b.u8() % 4)];
                Input::Opi {
                    channel: if b.u8() % 2 == 0 { Channel::Tas } else { Channel::Pos0 },
                    message: Message::CardServiceRequest(CardServiceRequest {
                        header: header(b.u8()),
                        request_type: rt,
                        pos_data: None,
                        total_amount: (b.u8() % 8 != 0)
                            .then(|| Amount::new(u64::from(b.u16()), Currency::EUR)),
                        original_transaction: None,
                        private_data: None,
                    }),
                }
            }
            11 => {
                let rt = ServiceRequestType::ALL[usize::from(b.u8()) % ServiceRequestType::ALL.len()];
                Input::Opi {
                    channel: Channel::Tas,
                    message: Message::ServiceRequest(ServiceRequest {
                        header: header(b.u8()),
                        request_type: rt,
                        pos_data: None,
                        private_data: None,
                    }),
                }
            }
            12 => Input::Opi {
                channel: Channel::Tas,
                message: Message::DeviceResponse(ccv_opi::DeviceResponse {
                    header: Header { request_id: format!("D{}", b.u8()), ..header(0) },
                    request_type: ccv_opi::DeviceRequestType::Output,
                    overall_result: if b.u8() % 2 == 0 {
                        ccv_opi::OverallResult::Success
                    } else {
                        ccv_opi::OverallResult::DeviceUnavailable
                    },
                    outputs: vec![],
                    input: None,
                    private_data: None,
                }),
            },
            13 => Input::Card(CardEvent::Presented(TestCard::ALL[usize::from(b.u8()) % TestCard::ALL.len()])),
            14 => Input::Card(if b.u8() % 2 == 0 {
                CardEvent::Pin("1234".into())
            } else {
                CardEvent::Pin("0000".into())
            }),
            15 => Input::Card(if b.u8() % 2 == 0 { CardEvent::Removed } else { CardEvent::CustomerCancel }),
            16 => Input::TmsChange(match b.u8() % 5 {
                0 => TmsChange::Mqt(b.u8() % 2 == 0),
                1 => TmsChange::CloudConnection(b.u8() % 2 == 0),
                2 => TmsChange::MqtServiceUseSsl(b.u8() % 2 == 0),
                3 => TmsChange::SoftwareTarget(SoftwareVersion::parse(&format!("{}.0", b.u8() % 20)).ok()),
                _ => TmsChange::MqtServiceEnable(b.u8() % 2 == 0),
            }),
            17 => Input::ContactTms,
            18 => Input::PowerOff,
            19 => Input::PowerOn,
            20 => {
                let mut n = t.config().network.clone();
                n.dns_configured = b.u8() % 2 == 0;
                n.outgoing_443_allowed = b.u8() % 2 == 0;
                Input::SetNetwork(n)
            }
            21 => {
                // Type the service password, so installations happen.
                for k in Key::parse_script(&t.service_password(now)).unwrap_or_default() {
                    t.handle_input(now, Input::Key(k));
                }
                Input::Key(Key::Ok)
            }
            22 => Input::Key(Key::Dot),
            23 => {
                // A command off the MQTT topic: a well-formed kick, or raw bytes from the fuzzer.
                let payload = if b.u8() % 2 == 0 {
                    let expires = now.plus_millis(u64::from(b.u8()) * 100).as_millis();
                    format!(
                        r#"{{"type":"connect-tas","kickId":"{}","reference":"r","expiresAt":{expires}}}"#,
                        b.u8() % 8
                    )
                    .into_bytes()
                } else {
                    let n = usize::from(b.u8() % 64).min(b.0.len());
                    let (raw, rest) = b.0.split_at(n);
                    b.0 = rest;
                    raw.to_vec()
                };
                Input::CloudCommand(CloudCommand { delivery: u64::from(b.u16()), payload })
            }
            _ => Input::Tick,
        };
        t.handle_input(now, input);
        while let Some(o) = t.poll_output() {
            match o {
                Output::Journal(e) => net += e.signed_minor(),
                Output::KickReply(KickReply::Accepted { .. }) => {
                    assert!(t.config().trigger_port != 0, "a local kick was accepted with trigger port 0");
                }
                Output::OpenMqtt(_) => assert!(t.config().installed.mqt, "MQTT opened without MQT installed"),
                _ => {}
            }
        }
        assert!(*t.software() >= last_version, "the software version went down");
        last_version = t.software().clone();
        assert_eq!(net, t.day_totals().net_minor + closed_offset(&t, net), "journal totals drifted");
        if let Some(d) = t.poll_timeout() {
            assert!(d > now, "a timer is overdue after handle_input");
        }
    }
}

/// The net total of periods already closed (the journal's totals cover the open period only).
fn closed_offset(t: &Terminal, _net: i128) -> i128 {
    t.journal().filter(|e| e.period < t.day_totals().period).map(|e| e.signed_minor()).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_body_survives_a_seed_corpus() {
        let mut corpus: Vec<Vec<u8>> = vec![vec![], vec![0], vec![255; 64], (0..=255).collect()];
        let mut x: u64 = 1;
        for len in [16usize, 64, 256, 1024] {
            for _ in 0..16 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                corpus.push(v);
            }
        }
        for input in &corpus {
            super::inputs(input);
        }
    }
}
