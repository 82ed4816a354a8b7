//! What a step expects ([`Expect`]) and how it is compared with what was seen ([`Observed`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::run::Mismatch;

/// What must hold after a step. Every field is optional; all given ones must hold at the same time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A line of the terminal's screen contains this.
    pub screen: Option<String>,
    /// No line of the screen contains this.
    pub screen_not: Option<String>,
    /// The MQTT link: `up`, `connecting`, `down`, `off`.
    pub mqtt: Option<String>,
    /// Why the MQTT link is not up (`dns`, `port_443_blocked`, `not_installed`, ...).
    pub mqtt_reason: Option<String>,
    /// The OPI link to the TAS is up (`true`) or not.
    pub tas_link: Option<bool>,
    /// `TCP FLAT-OUTGOING` or `DEFAULT ITS`.
    pub pos_opi_mode: Option<String>,
    /// `cloud_connect_2`, `cloud_connect_1`, `tms_changed_not_installed`, `not_migrated`.
    pub migration: Option<String>,
    /// A line of the terminal's journal (this run's) contains this.
    pub journal: Option<String>,
    /// The terminal's own diagnosis has each of these findings (`DiagnosisReason` names).
    pub diagnosis: Option<Vec<String>>,
    /// The diagnosis has none of these findings.
    pub no_diagnosis: Option<Vec<String>>,
    /// Any field of the terminal as the control API shows it, by dotted path (`"status.settings.triggerPort" = 0`).
    pub fields: Option<BTreeMap<String, toml::Value>>,
    /// The payment's status: `pending`, `success`, `failed`, `manualintervention`.
    pub status: Option<String>,
    /// The payment's failure code.
    pub failure_code: Option<String>,
    /// The payment's failure message contains this.
    pub failure_message: Option<String>,
    /// The payment's customer receipt contains this.
    pub receipt: Option<String>,
    /// Any field of the payment as `GET /api/v1/transaction` shows it, by dotted path
    /// (`"details.wakeUpType" = "CLOUD_CONNECT"`).
    pub transaction: Option<BTreeMap<String, toml::Value>>,
    /// The HTTP status of the step's request (`0`: nothing answered, e.g. a kick to a port nobody listens on).
    pub http: Option<u16>,
    /// The body of the answer to the step's request contains this text.
    pub answer: Option<String>,
    /// Exactly these `doctor` checks fail (`[]`: all pass).
    pub doctor_failing: Option<Vec<String>>,
    /// An event on the stream since the step began has these fields (dotted paths; `tmsId` defaults to the step's
    /// terminal for events that name one).
    pub event: Option<BTreeMap<String, toml::Value>>,
}

/// What a step's expectations are compared with.
#[derive(Debug, Default)]
pub struct Observed<'a> {
    /// The terminal as `GET /terminals/{tmsId}` shows it.
    pub terminal: Option<&'a Value>,
    /// The payment as `GET /api/v1/transaction` shows it.
    pub payment: Option<&'a Value>,
    /// The doctor report.
    pub doctor: Option<&'a Value>,
    /// The events since the step began.
    pub events: &'a [Value],
    /// The step's terminal.
    pub tms_id: Option<&'a str>,
    /// The answer to the step's request: HTTP status and body.
    pub answer: Option<&'a (u16, Value)>,
}

impl Expect {
    /// Whether anything here looks at the terminal.
    pub fn needs_terminal(&self) -> bool {
        self.screen.is_some()
            || self.screen_not.is_some()
            || self.mqtt.is_some()
            || self.mqtt_reason.is_some()
            || self.tas_link.is_some()
            || self.pos_opi_mode.is_some()
            || self.migration.is_some()
            || self.journal.is_some()
            || self.diagnosis.is_some()
            || self.no_diagnosis.is_some()
            || self.fields.is_some()
            || self.doctor_failing.is_some()
    }

    /// Whether anything here looks at a payment.
    pub fn needs_payment(&self) -> bool {
        self.status.is_some()
            || self.failure_code.is_some()
            || self.failure_message.is_some()
            || self.receipt.is_some()
            || self.transaction.is_some()
    }

    /// Whether the doctor report is needed.
    pub fn needs_doctor(&self) -> bool {
        self.doctor_failing.is_some()
    }

    /// Every expectation that does not hold, and whether waiting longer cannot change that (a payment that is
    /// final with another status).
    pub fn check(&self, seen: &Observed<'_>) -> (Vec<Mismatch>, bool) {
        let mut out = Vec::new();
        let t = seen.terminal;
        let at = |path: &str| t.and_then(|t| lookup(t, path));
        let screen: Vec<String> = at("status.screen")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(want) = &self.screen
            && !screen.iter().any(|l| l.contains(want.as_str()))
        {
            out.push(Mismatch::new("screen", format!("a line containing {want:?}"), format!("{screen:?}")));
        }
        if let Some(not) = &self.screen_not
            && screen.iter().any(|l| l.contains(not.as_str()))
        {
            out.push(Mismatch::new("screen", format!("no line containing {not:?}"), format!("{screen:?}")));
        }
        // A terminal without an MQTT client has an empty state: `off`, as the sandbox's table says.
        let off = Value::String("off".into());
        let mqtt_state = at("status.mqtt.state").map(|s| if s.as_str() == Some("") { &off } else { s });
        text_field(&mut out, "mqtt", self.mqtt.as_deref(), mqtt_state);
        text_field(&mut out, "mqtt_reason", self.mqtt_reason.as_deref(), at("status.mqtt.lastFailure"));
        if let Some(want) = self.tas_link {
            let got = at("status.linkUp").and_then(Value::as_bool);
            if got != Some(want) {
                out.push(Mismatch::new("tas_link", want.to_string(), show(at("status.linkUp"))));
            }
        }
        text_field(&mut out, "pos_opi_mode", self.pos_opi_mode.as_deref(), at("posOpiMode"));
        text_field(&mut out, "migration", self.migration.as_deref(), at("migration"));
        if let Some(want) = &self.journal {
            let lines: Vec<&str> = at("status.journal")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !lines.iter().any(|l| l.contains(want.as_str())) {
                let last: Vec<&str> = lines.iter().rev().take(5).rev().copied().collect();
                out.push(Mismatch::new(
                    "journal",
                    format!("a line containing {want:?}"),
                    format!("{} lines, the last: {last:?}", lines.len()),
                ));
            }
        }
        let findings: Vec<&str> = at("status.diagnosis")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(want) = &self.diagnosis {
            let missing: Vec<&String> = want.iter().filter(|w| !findings.contains(&w.as_str())).collect();
            if !missing.is_empty() {
                out.push(Mismatch::new("diagnosis", format!("findings {want:?}"), format!("{findings:?}")));
            }
        }
        if let Some(not) = &self.no_diagnosis
            && not.iter().any(|n| findings.contains(&n.as_str()))
        {
            out.push(Mismatch::new("no_diagnosis", format!("none of {not:?}"), format!("{findings:?}")));
        }
        by_path(&mut out, "fields", self.fields.as_ref(), t);

        let p = |path: &str| seen.payment.and_then(|v| lookup(v, path));
        let status = p("status").and_then(Value::as_str);
        let before = out.len();
        if let Some(want) = &self.status
            && status != Some(want.as_str())
        {
            let message =
                p("failureMessage").and_then(Value::as_str).map(|m| format!(" ({m})")).unwrap_or_default();
            out.push(Mismatch::new("status", want.clone(), format!("{}{message}", show(p("status")))));
        }
        text_field(&mut out, "failure_code", self.failure_code.as_deref(), p("failureCode"));
        contains_field(&mut out, "failure_message", self.failure_message.as_deref(), p("failureMessage"));
        contains_field(&mut out, "receipt", self.receipt.as_deref(), p("details.customerReceipt"));
        by_path(&mut out, "transaction", self.transaction.as_ref(), seen.payment);
        // A payment that is final does not change any more: waiting cannot mend what it shows.
        let final_mismatch = out.len() > before && status.is_some_and(|s| s != "pending");

        if let Some(want) = self.http {
            let got = seen.answer.map(|a| a.0);
            if got != Some(want) {
                let body = seen.answer.map(|a| a.1.to_string()).unwrap_or_else(|| "no request".into());
                out.push(Mismatch::new("http", want.to_string(), format!("{} {body}", show_u16(got))));
            }
        }
        if let Some(want) = &self.answer {
            let body = seen.answer.map(|a| a.1.to_string()).unwrap_or_default();
            if !body.contains(want.as_str()) {
                out.push(Mismatch::new("answer", format!("a body containing {want:?}"), body));
            }
        }
        if let Some(want) = &self.doctor_failing {
            let failing: Vec<&str> = seen
                .doctor
                .and_then(|d| d.get("checks"))
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter(|c| c.get("pass") == Some(&Value::Bool(false)))
                        .filter_map(|c| c.get("name").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let mut want_sorted: Vec<&str> = want.iter().map(String::as_str).collect();
            want_sorted.sort_unstable();
            let mut got_sorted = failing.clone();
            got_sorted.sort_unstable();
            if want_sorted != got_sorted {
                out.push(Mismatch::new(
                    "doctor_failing",
                    format!("{want_sorted:?}"),
                    format!("{got_sorted:?}"),
                ));
            }
        }
        if let Some(want) = &self.event {
            let matches = |e: &Value| {
                let names_terminal = want.contains_key("tmsId");
                let terminal_ok = names_terminal
                    || match (e.get("tmsId").and_then(Value::as_str), seen.tms_id) {
                        (Some(got), Some(step)) => got == step,
                        _ => true,
                    };
                terminal_ok && want.iter().all(|(path, v)| lookup(e, path) == Some(&json_of(v)))
            };
            if !seen.events.iter().any(matches) {
                let want_json: BTreeMap<&String, Value> = want.iter().map(|(k, v)| (k, json_of(v))).collect();
                let kinds: Vec<&str> =
                    seen.events.iter().filter_map(|e| e.get("type").and_then(Value::as_str)).collect();
                out.push(Mismatch::new(
                    "event",
                    format!("an event with {}", serde_json::to_string(&want_json).unwrap_or_default()),
                    format!("{} events since the step began, of types {kinds:?}", seen.events.len()),
                ));
            }
        }
        (out, final_mismatch)
    }
}

/// The value at a dotted path (`status.mqtt.state`, `journal.0`).
pub(crate) fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Each `path = value` of `want` against `v`.
fn by_path(
    out: &mut Vec<Mismatch>,
    what: &str,
    want: Option<&BTreeMap<String, toml::Value>>,
    v: Option<&Value>,
) {
    for (path, want) in want.into_iter().flatten() {
        let want = json_of(want);
        let got = v.and_then(|v| lookup(v, path));
        if got != Some(&want) {
            out.push(Mismatch::new(format!("{what}.{path}"), want.to_string(), show(got)));
        }
    }
}

fn json_of(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

fn show_u16(v: Option<u16>) -> String {
    v.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

fn text_field(out: &mut Vec<Mismatch>, what: &str, want: Option<&str>, got: Option<&Value>) {
    if let Some(want) = want
        && got.and_then(Value::as_str) != Some(want)
    {
        out.push(Mismatch::new(what, format!("{want:?}"), show(got)));
    }
}

fn contains_field(out: &mut Vec<Mismatch>, what: &str, want: Option<&str>, got: Option<&Value>) {
    if let Some(want) = want
        && !got.and_then(Value::as_str).is_some_and(|g| g.contains(want))
    {
        out.push(Mismatch::new(what, format!("containing {want:?}"), show(got)));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn expect(toml_text: &str) -> Expect {
        toml::from_str(toml_text).expect("an expectation")
    }

    #[test]
    fn terminal_fields_are_compared_by_path() {
        let t = json!({"posOpiMode": "TCP FLAT-OUTGOING", "migration": "cloud_connect_2",
            "status": {"screen": ["CCV", "WELKOM"], "linkUp": false, "mqtt": {"state": "up"},
                       "diagnosis": ["trigger_port_disabled"], "journal": ["1 payment success 12.50"],
                       "settings": {"triggerPort": 0}}});
        let seen = Observed { terminal: Some(&t), ..Observed::default() };
        let ok = expect(
            "screen = \"WELK\"\nmqtt = \"up\"\ntas_link = false\ndiagnosis = [\"trigger_port_disabled\"]\n\
             journal = \"success\"\nfields = { \"status.settings.triggerPort\" = 0 }\n",
        );
        assert!(ok.check(&seen).0.is_empty());
        let bad = expect(
            "screen = \"DAG\"\nfields = { \"status.settings.triggerPort\" = 4105 }\nmqtt = \"down\"\n",
        );
        let (m, definitive) = bad.check(&seen);
        assert!(!definitive);
        let names: Vec<&str> = m.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(names, ["screen", "mqtt", "fields.status.settings.triggerPort"]);
        assert_eq!(m[0].seen, r#"["CCV", "WELKOM"]"#);
        assert_eq!(m[2].seen, "0");
    }

    #[test]
    fn a_final_payment_with_another_status_is_definitive() {
        let p = json!({"status": "failed", "failureCode": "card_refused", "failureMessage": "refused by the issuer"});
        let seen = Observed { payment: Some(&p), ..Observed::default() };
        let (m, definitive) = expect("status = \"success\"").check(&seen);
        assert!(definitive);
        assert_eq!(m[0].seen, "\"failed\" (refused by the issuer)");
        let pending = json!({"status": "pending"});
        let (_, definitive) = expect("status = \"success\"")
            .check(&Observed { payment: Some(&pending), ..Observed::default() });
        assert!(!definitive, "pending may still become success");
    }

    #[test]
    fn events_match_on_their_fields_and_the_step_terminal() {
        let events = [
            json!({"type": "mqtt", "tmsId": "1", "state": "up"}),
            json!({"type": "mqtt", "tmsId": "2", "state": "down"}),
        ];
        let seen = Observed { events: &events, tms_id: Some("2"), ..Observed::default() };
        assert!(expect("event = { type = \"mqtt\", state = \"down\" }").check(&seen).0.is_empty());
        let (m, _) = expect("event = { type = \"mqtt\", state = \"up\" }").check(&seen);
        assert_eq!(m.len(), 1, "the up event is another terminal's");
        assert!(
            expect("event = { type = \"mqtt\", state = \"up\", tmsId = \"1\" }").check(&seen).0.is_empty()
        );
    }

    #[test]
    fn doctor_failing_is_the_exact_set() {
        let d = json!({"checks": [{"name": "dns", "pass": false}, {"name": "mqtt_link", "pass": false}, {"name": "software", "pass": true}]});
        let seen = Observed { doctor: Some(&d), ..Observed::default() };
        assert!(expect("doctor_failing = [\"mqtt_link\", \"dns\"]").check(&seen).0.is_empty());
        assert_eq!(expect("doctor_failing = [\"dns\"]").check(&seen).0.len(), 1);
    }
}
