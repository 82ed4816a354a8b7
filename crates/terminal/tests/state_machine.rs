//! `proptest-state-machine`: random sequences of kicks, key presses, TMS changes, link events and
//! payments against a small reference model; invariants are checked after every step.

mod common;

use ccv_opi::{CardRequestType, Message, OverallResult};
use ccv_terminal::{
    CloudKick, DayState, Event, HostPort, Input, KickRefusal, KickReply, LocalKick, MqttDownReason,
    MqttEvent, MqttLink, Output, PosOpiMode, SoftwareVersion, TasDialFailure, TasEvent, TerminalConfig,
    TmsChange,
};
use common::Harness;
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

const VERSIONS: [&str; 3] = ["11.2.05", "11.3.02", "14.0.11.01"];

fn v(i: usize) -> SoftwareVersion {
    SoftwareVersion::parse(VERSIONS[i]).unwrap()
}

/// The reference model: only what the rules talk about.
#[derive(Debug, Clone)]
struct Model {
    start: u8,
    powered: bool,
    tms_cloud: bool,
    tms_mqt: bool,
    tms_target: Option<usize>,
    installed_cloud: bool,
    installed_mqt: bool,
    software: usize,
    pos_flat: bool,
    trigger_port: u16,
    dns: bool,
    net443: bool,
    activated: bool,
    day_closed_by_hand: bool,
}

impl Model {
    fn new(start: u8) -> Model {
        let c = config(start);
        Model {
            start,
            powered: true,
            tms_cloud: c.tms.cloud_connection,
            tms_mqt: c.tms.mqt,
            tms_target: None,
            installed_cloud: c.installed.cloud_connection,
            installed_mqt: c.installed.mqt,
            software: VERSIONS.iter().position(|s| SoftwareVersion::parse(s).unwrap() == c.software).unwrap(),
            pos_flat: c.pos_opi_mode == PosOpiMode::TcpFlatOutgoing,
            trigger_port: c.trigger_port,
            dns: true,
            net443: true,
            activated: true,
            day_closed_by_hand: false,
        }
    }

    /// The refusal a local kick must get, busy aside (R1, R3, R19, R21).
    fn local_refusal(&self, port: u16) -> Option<KickRefusal> {
        if !self.powered {
            Some(KickRefusal::PoweredOff)
        } else if self.trigger_port == 0 {
            Some(KickRefusal::TriggerPortDisabled)
        } else if port != self.trigger_port {
            Some(KickRefusal::WrongPort)
        } else {
            self.common_refusal()
        }
    }

    fn common_refusal(&self) -> Option<KickRefusal> {
        if !self.installed_cloud {
            Some(KickRefusal::CloudConnectionDisabled)
        } else if self.software < 1 {
            Some(KickRefusal::SoftwareTooOld)
        } else if !self.pos_flat {
            Some(KickRefusal::NotFlatOutgoing)
        } else if !self.activated {
            Some(KickRefusal::NotActivated)
        } else if self.day_closed_by_hand {
            Some(KickRefusal::DayClosed)
        } else {
            None
        }
    }

    /// Whether the MQTT session may be open (R5, R6, R7, R11, R23).
    fn mqtt_allowed(&self) -> bool {
        self.powered
            && self.installed_mqt
            && self.installed_cloud
            && self.software == 2
            && self.dns
            && self.net443
    }
}

fn config(start: u8) -> TerminalConfig {
    match start % 3 {
        0 => TerminalConfig::default(),
        1 => TerminalConfig::cloud_connect_1(),
        _ => TerminalConfig::legacy(),
    }
}

#[derive(Debug, Clone)]
enum Step {
    LocalKick { right_port: bool },
    CloudKick { id: u8, expired: bool },
    Tas(u8),
    Mqtt(u8),
    TmsCloud(bool),
    TmsMqt(bool),
    TmsTarget(Option<usize>),
    ContactTms,
    Install,
    ActivateAndOpen,
    PosModeDefaultIts,
    TriggerPort(bool),
    Network { dns: bool, net443: bool },
    Keys(Vec<u8>),
    Pay { minor: u64, kind: u8 },
    Reconcile,
    PowerOff,
    PowerOn,
    Tick(u64),
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        (0u8..3).prop_map(Model::new).boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            4 => any::<bool>().prop_map(|right_port| Step::LocalKick { right_port }),
            3 => (0u8..4, any::<bool>()).prop_map(|(id, expired)| Step::CloudKick { id, expired }),
            3 => (0u8..3).prop_map(Step::Tas),
            3 => (0u8..3).prop_map(Step::Mqtt),
            1 => any::<bool>().prop_map(Step::TmsCloud),
            1 => any::<bool>().prop_map(Step::TmsMqt),
            1 => prop::option::of(0usize..3).prop_map(Step::TmsTarget),
            1 => Just(Step::ContactTms),
            2 => Just(Step::Install),
            2 => Just(Step::ActivateAndOpen),
            1 => Just(Step::PosModeDefaultIts),
            1 => any::<bool>().prop_map(Step::TriggerPort),
            1 => (any::<bool>(), any::<bool>()).prop_map(|(dns, net443)| Step::Network { dns, net443 }),
            2 => prop::collection::vec(0u8..14, 0..6).prop_map(Step::Keys),
            4 => (1u64..5000, 0u8..3).prop_map(|(minor, kind)| Step::Pay { minor, kind }),
            1 => Just(Step::Reconcile),
            1 => Just(Step::PowerOff),
            1 => Just(Step::PowerOn),
            2 => (0u64..120_000).prop_map(Step::Tick),
        ]
        .boxed()
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        match step {
            Step::TmsCloud(b) => m.tms_cloud = *b,
            Step::TmsMqt(b) => m.tms_mqt = *b,
            Step::TmsTarget(t) => m.tms_target = *t,
            Step::PowerOff => m.powered = false,
            Step::PowerOn => m.powered = true,
            Step::Network { dns, net443 } => {
                m.dns = *dns;
                m.net443 = *net443;
            }
            _ if !m.powered => {}
            Step::ContactTms if m.tms_mqt => m.pos_flat = true,
            Step::Install => {
                m.day_closed_by_hand = true;
                m.installed_cloud = m.tms_cloud;
                m.installed_mqt = m.tms_mqt;
                if let Some(t) = m.tms_target {
                    m.software = m.software.max(t);
                }
                if m.tms_mqt {
                    m.pos_flat = true;
                }
                m.activated = false;
            }
            Step::ActivateAndOpen => {
                m.activated = true;
                m.day_closed_by_hand = false;
            }
            Step::PosModeDefaultIts => m.pos_flat = false,
            Step::TriggerPort(on) => m.trigger_port = if *on { 4105 } else { 0 },
            _ => {}
        }
        m
    }
}

struct Sut {
    h: Harness,
    software: SoftwareVersion,
    net: i128,
    kick_seq: u32,
}

impl Sut {
    /// Feeds and checks every output against its own preconditions.
    fn check_outputs(&mut self, outs: &[Output]) {
        let c = self.h.t.config().clone();
        let mut journal_stans = Vec::new();
        for o in outs {
            match o {
                Output::Journal(e) => {
                    self.net += e.signed_minor();
                    journal_stans.push(format!("{:06}", e.stan));
                }
                Output::Publish(Event::DayClosed { .. }) => self.net = 0,
                Output::OpenMqtt(s) => {
                    assert!(
                        c.installed.mqt && c.installed.mqt_service_enable && c.installed.mqt_service_use_ssl
                    );
                    assert!(c.software >= SoftwareVersion::min_cloud_kick(), "R5");
                    assert!(
                        c.network.dns_configured || HostPort::new(s.host.clone(), s.port).is_literal_ip()
                    );
                }
                Output::DialTas(d) => {
                    assert!(c.network.dns_configured || d.tas.is_literal_ip(), "dial without DNS");
                }
                Output::SendOpi { message: Message::CardServiceResponse(r), .. }
                    if r.overall_result == OverallResult::Success
                        && r.request_type != CardRequestType::AbortRequest =>
                {
                    let stan = r.terminal.as_ref().and_then(|t| t.stan.clone()).expect("STAN on a result");
                    assert!(
                        journal_stans.contains(&stan)
                            || self.h.t.journal().any(|e| format!("{:06}", e.stan) == stan),
                        "journal entry before the response"
                    );
                }
                _ => {}
            }
        }
    }

    fn run(&mut self, input: Input) -> Vec<Output> {
        let outs = self.h.feed(input);
        self.check_outputs(&outs);
        outs
    }

    fn keys(&mut self, script: &str) {
        let outs = self.h.keys(script);
        self.check_outputs(&outs);
    }

    fn back_to_idle(&mut self) {
        self.keys("STOP STOP STOP STOP STOP STOP STOP STOP");
    }
}

struct TerminalTest;

impl StateMachineTest for TerminalTest {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(m: &Model) -> Sut {
        let h = Harness::new(config(m.start));
        let software = h.t.software().clone();
        Sut { h, software, net: 0, kick_seq: 0 }
    }

    fn apply(mut s: Sut, m: &Model, step: Step) -> Sut {
        match step {
            Step::LocalKick { right_port } => {
                let port = if right_port { 4105 } else { 4106 };
                let outs = s.run(Input::LocalKick(LocalKick {
                    source: "pt".into(),
                    port,
                    reference: None,
                    tas: None,
                }));
                let replies: Vec<&KickReply> = outs
                    .iter()
                    .filter_map(|o| match o {
                        Output::KickReply(r) => Some(r),
                        _ => None,
                    })
                    .collect();
                assert_eq!(replies.len(), 1, "one reply per local kick");
                match (m.local_refusal(port), replies[0]) {
                    (Some(want), KickReply::Refused { reason }) => assert_eq!(*reason, want),
                    (Some(want), KickReply::Accepted { .. }) => {
                        panic!("kick accepted although {want} forbids it")
                    }
                    (None, KickReply::Refused { reason }) => assert_eq!(*reason, KickRefusal::Busy),
                    (None, KickReply::Accepted { .. }) => {}
                }
            }
            Step::CloudKick { id, expired } => {
                s.kick_seq += 1;
                let kick_id = if id == 0 { "dup".to_owned() } else { format!("k{}", s.kick_seq) };
                let expires_at = if expired { s.h.now } else { s.h.now.plus_millis(60_000) };
                let link_up = *s.h.t.mqtt_link() == MqttLink::Up;
                let outs =
                    s.run(Input::CloudKick(CloudKick { kick_id, reference: None, expires_at, tas: None }));
                let accepted = outs.iter().any(|o| matches!(o, Output::Publish(Event::KickAccepted { .. })));
                if accepted {
                    assert!(
                        m.powered && m.installed_mqt && m.software == 2 && link_up,
                        "cloud kick needs 2.0 (R5, R12)"
                    );
                    assert!(
                        m.common_refusal().is_none(),
                        "cloud kick accepted against {:?}",
                        m.common_refusal()
                    );
                    assert!(!expired);
                }
            }
            Step::Tas(k) => {
                let e = [
                    TasEvent::Connected,
                    TasEvent::DialFailed(TasDialFailure::Refused),
                    TasEvent::Disconnected,
                ];
                s.run(Input::Tas(e[usize::from(k % 3)].clone()));
            }
            Step::Mqtt(k) => {
                let e = [
                    MqttEvent::Connected,
                    MqttEvent::ConnectFailed(MqttDownReason::Tls),
                    MqttEvent::Disconnected,
                ];
                s.run(Input::Mqtt(e[usize::from(k % 3)].clone()));
            }
            Step::TmsCloud(b) => {
                s.run(Input::TmsChange(TmsChange::CloudConnection(b)));
            }
            Step::TmsMqt(b) => {
                for c in [TmsChange::Mqt(b), TmsChange::MqtServiceEnable(b), TmsChange::MqtServiceUseSsl(b)] {
                    s.run(Input::TmsChange(c));
                }
            }
            Step::TmsTarget(t) => {
                s.run(Input::TmsChange(TmsChange::SoftwareTarget(t.map(v))));
            }
            Step::ContactTms => {
                s.run(Input::ContactTms);
                if m.powered && m.tms_mqt {
                    assert_eq!(s.h.t.config().pos_opi_mode, PosOpiMode::TcpFlatOutgoing, "R14");
                }
            }
            Step::Install => {
                s.back_to_idle();
                s.keys("MENU 1 99999 OK 1 1 1 OK");
                s.back_to_idle();
                s.keys("MENU 2 PASSWORD OK 1 1 1 1 12345678 OK 12345678 OK OK OK OK OK OK");
                s.back_to_idle();
                if m.powered && m.tms_mqt {
                    assert_eq!(s.h.t.config().pos_opi_mode, PosOpiMode::TcpFlatOutgoing, "R14");
                }
            }
            Step::ActivateAndOpen => {
                s.back_to_idle();
                s.keys("MENU 1 99999 OK 1 1 3 OK 2 OK");
                s.back_to_idle();
            }
            Step::PosModeDefaultIts => {
                s.back_to_idle();
                s.keys("MENU 2 PASSWORD OK 2 1 1 1 1 OK");
                s.back_to_idle();
            }
            Step::TriggerPort(on) => {
                s.back_to_idle();
                s.keys(if on {
                    "MENU 2 PASSWORD OK 2 1 1 2 4105 OK OK"
                } else {
                    "MENU 2 PASSWORD OK 2 1 1 2 0 OK OK"
                });
                s.back_to_idle();
            }
            Step::Network { dns, net443 } => {
                let mut n = s.h.t.config().network.clone();
                n.dns_configured = dns;
                n.outgoing_443_allowed = net443;
                s.run(Input::SetNetwork(n));
            }
            Step::Keys(keys) => {
                let names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ".", "OK", "CLEAR", "MENU"];
                let script: Vec<&str> = keys.iter().map(|k| names[usize::from(*k)]).collect();
                s.keys(&script.join(" "));
                s.back_to_idle();
            }
            Step::Pay { minor, kind } => {
                let rt = [
                    CardRequestType::CardPayment,
                    CardRequestType::PaymentRefund,
                    CardRequestType::PaymentReversal,
                ][usize::from(kind)];
                let mut outs = s.h.send_card(rt, Some(minor));
                outs.extend(s.h.advance(40_000));
                let all = s.h.answer_devices(outs, true);
                s.check_outputs(&all);
                assert!(!s.h.t.in_transaction(), "every transaction ends");
            }
            Step::Reconcile => {
                let outs = s.h.send_service(ccv_opi::ServiceRequestType::ReconciliationWithClosure);
                s.check_outputs(&outs);
            }
            Step::PowerOff => {
                s.run(Input::PowerOff);
            }
            Step::PowerOn => {
                s.run(Input::PowerOn);
            }
            Step::Tick(ms) => {
                let outs = s.h.advance(ms);
                s.check_outputs(&outs);
            }
        }
        let now = s.h.t.software().clone();
        assert!(now >= s.software, "the software version never decreases");
        s.software = now;
        s
    }

    fn check_invariants(s: &Sut, m: &Model) {
        let c = s.h.t.config();
        assert_eq!(s.h.t.software().clone(), v(m.software), "software as the model says");
        assert_eq!(s.net, s.h.t.day_totals().net_minor, "journal totals = approved - refunded - reversed");
        assert_eq!(c.pos_opi_mode == PosOpiMode::TcpFlatOutgoing, m.pos_flat, "POS mode");
        assert_eq!(c.trigger_port, m.trigger_port);
        assert_eq!(c.installed.mqt, m.installed_mqt);
        assert_eq!(c.installed.cloud_connection, m.installed_cloud);
        assert_eq!(c.activated, m.activated);
        assert_eq!(c.day == DayState::ClosedByHand, m.day_closed_by_hand);
        if matches!(s.h.t.mqtt_link(), MqttLink::Up | MqttLink::Connecting) {
            assert!(m.mqtt_allowed(), "MQTT open against the rules: {m:?}");
        }
        if m.mqtt_allowed() {
            assert!(
                !matches!(s.h.t.mqtt_link(), MqttLink::Down { retrying: false, .. }),
                "MQTT wanted but not opened"
            );
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn terminal_follows_the_rules(sequential 1..40 => TerminalTest);
}
