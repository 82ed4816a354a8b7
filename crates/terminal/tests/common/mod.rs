//! Test harness: a terminal on a fake clock, with helpers to feed inputs and collect outputs.
#![allow(dead_code)]

use ccv_opi::{
    Amount, CardRequestType, CardServiceRequest, CardServiceResponse, Currency, DeviceRequest,
    DeviceResponse, Header, Message, OutDevice, OutputResult, OverallResult, PrivateData, ServiceRequest,
    ServiceRequestType, ServiceResponse,
};
use ccv_terminal::{Channel, Input, Key, Output, Screen, Terminal, TerminalConfig, Timestamp};

/// 2026-11-28T10:00:00Z.
pub const T0: u64 = 1_795_860_000_000;

pub struct Harness {
    pub t: Terminal,
    pub now: Timestamp,
    pub outputs: Vec<Output>,
    next_request: u32,
}

impl Harness {
    pub fn new(config: TerminalConfig) -> Harness {
        let mut h = Harness {
            t: Terminal::new(config, 42),
            now: Timestamp(T0),
            outputs: Vec::new(),
            next_request: 0,
        };
        h.drain();
        h
    }

    pub fn default_terminal() -> Harness {
        Harness::new(TerminalConfig::default())
    }

    /// Feeds one input and returns the outputs it produced.
    pub fn feed(&mut self, input: Input) -> Vec<Output> {
        self.t.handle_input(self.now, input);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Output> {
        let mut v = Vec::new();
        // Bounded: a single step never produces more than a few dozen outputs.
        for _ in 0..10_000 {
            match self.t.poll_output() {
                Some(o) => v.push(o),
                None => break,
            }
        }
        self.outputs.extend(v.iter().cloned());
        v
    }

    /// Advances the fake clock by `ms` and fires timers (a Tick at each deadline on the way).
    pub fn advance(&mut self, ms: u64) -> Vec<Output> {
        let end = self.now.plus_millis(ms);
        let mut v = Vec::new();
        for _ in 0..1000 {
            match self.t.poll_timeout() {
                Some(d) if d <= end => {
                    self.now = d.max(self.now);
                    v.extend(self.feed(Input::Tick));
                }
                _ => break,
            }
        }
        self.now = end;
        v.extend(self.feed(Input::Tick));
        v
    }

    /// Types a key script (`PASSWORD` stands for today's service password).
    pub fn keys(&mut self, script: &str) -> Vec<Output> {
        let pw = self.t.service_password(self.now);
        let script = script.replace("PASSWORD", &pw);
        let keys = Key::parse_script(&script).expect("valid key script");
        let mut v = Vec::new();
        for k in keys {
            v.extend(self.feed(Input::Key(k)));
        }
        v
    }

    pub fn screen(&self) -> Screen {
        self.t.screen()
    }

    pub fn screen_text(&self) -> String {
        self.screen().lines.join(" | ")
    }

    fn header(&mut self) -> Header {
        self.next_request += 1;
        Header {
            application_sender: Some("test-pos".into()),
            workstation_id: "POS1".into(),
            pop_id: None,
            request_id: self.next_request.to_string(),
        }
    }

    pub fn card_request(
        &mut self,
        rt: CardRequestType,
        minor: Option<u64>,
        private: Option<&str>,
    ) -> CardServiceRequest {
        CardServiceRequest {
            header: self.header(),
            request_type: rt,
            pos_data: None,
            total_amount: minor.map(|m| Amount::new(m, Currency::EUR)),
            original_transaction: None,
            private_data: private.map(|p| PrivateData(p.to_owned())),
        }
    }

    pub fn send_card(&mut self, rt: CardRequestType, minor: Option<u64>) -> Vec<Output> {
        let req = self.card_request(rt, minor, None);
        self.feed(Input::Opi { channel: Channel::Tas, message: Message::CardServiceRequest(req) })
    }

    pub fn send_service(&mut self, rt: ServiceRequestType) -> Vec<Output> {
        let req =
            ServiceRequest { header: self.header(), request_type: rt, pos_data: None, private_data: None };
        self.feed(Input::Opi { channel: Channel::Tas, message: Message::ServiceRequest(req) })
    }

    /// Answers every device request in `outs` (and those it triggers) with success, except the
    /// printer when `printer_ok` is false. Returns every output seen.
    pub fn answer_devices(&mut self, outs: Vec<Output>, printer_ok: bool) -> Vec<Output> {
        let mut all = outs.clone();
        let mut pending = outs;
        for _ in 0..100 {
            let Some(req) = pending.iter().rev().find_map(device_request).cloned() else { break };
            let printer = req.outputs.iter().any(|o| o.out_device_target == OutDevice::Printer);
            let ok = !printer || printer_ok;
            let result = if ok { OverallResult::Success } else { OverallResult::DeviceUnavailable };
            let resp = DeviceResponse {
                header: req.header.clone(),
                request_type: req.request_type,
                overall_result: result.clone(),
                outputs: req
                    .outputs
                    .iter()
                    .map(|o| OutputResult {
                        out_device_target: o.out_device_target,
                        out_result: result.clone(),
                    })
                    .collect(),
                input: None,
                private_data: None,
            };
            pending = self.feed(Input::Opi { channel: Channel::Tas, message: Message::DeviceResponse(resp) });
            all.extend(pending.iter().cloned());
        }
        all
    }

    /// A whole payment with the magic amounts table deciding: request, auto card, devices answered.
    pub fn pay(&mut self, minor: u64) -> (Vec<Output>, CardServiceResponse) {
        let mut outs = self.send_card(CardRequestType::CardPayment, Some(minor));
        outs.extend(self.advance(1_000));
        let all = self.answer_devices(outs, true);
        let resp = card_response(&all).expect("a CardServiceResponse");
        (all, resp)
    }
}

pub fn device_request(o: &Output) -> Option<&DeviceRequest> {
    match o {
        Output::SendOpi { message: Message::DeviceRequest(r), .. } => Some(r),
        _ => None,
    }
}

pub fn card_response(outs: &[Output]) -> Option<CardServiceResponse> {
    outs.iter().rev().find_map(|o| match o {
        Output::SendOpi { message: Message::CardServiceResponse(r), .. } => Some(r.clone()),
        _ => None,
    })
}

pub fn service_response(outs: &[Output]) -> Option<ServiceResponse> {
    outs.iter().rev().find_map(|o| match o {
        Output::SendOpi { message: Message::ServiceResponse(r), .. } => Some(r.clone()),
        _ => None,
    })
}

pub fn private_text(r: &CardServiceResponse) -> String {
    r.private_data.as_ref().map(|p| p.0.clone()).unwrap_or_default()
}
