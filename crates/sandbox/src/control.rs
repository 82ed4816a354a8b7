//! The control API (axum, JSON, bound to loopback): operate and watch the sandbox's terminals from outside, as an
//! installer at the counter and a customer at the card reader would.
//!
//! - `GET /sandbox`: [`crate::SandboxInfo`]
//! - `GET /terminals`, `GET /terminals/{tmsId}`: each terminal with its live status (screen, links with reasons,
//!   journal, transaction in progress)
//! - `POST /terminals/{tmsId}/keys` `{"script": "MENU 3 OK"}`: keys, as the keypad has them (`0`..`9`, `.`, `OK`,
//!   `STOP`, `CLEAR`, `MENU`; a run of digits types each)
//! - `POST /terminals/{tmsId}/card`: `{"presented": "maestro"}`, `{"pin": "1234"}`, `"removed"`,
//!   `"customer_cancel"`
//! - `POST /terminals/{tmsId}/tms`: a change TMS makes (`{"mqt": true}`, `{"tas": {"host": .., "port": ..}}`, ...);
//!   `POST /terminals/{tmsId}/tms/contact`: the terminal contacts TMS
//! - `POST /terminals/{tmsId}/power` `{"on": false}`
//! - `GET /terminals/{tmsId}/doctor`: the installer's checklist (R23), [`crate::doctor::Report`]
//! - `POST /terminals/{tmsId}/faults` `{"dnsConfigured": false, "outgoing443": false, "printerOutOfPaper": true,
//!   "latencyMs": 250, "tasDown": true, "iotDown": true}`: fault switches (each field optional; absent keeps the
//!   setting; `tasDown` and `iotDown` are the sandbox's, as on `POST /faults`)
//! - `GET /faults`, `POST /faults` `{"tasDown": true, "iotDown": true}`: the sandbox-wide switches: the mock TAS
//!   or the IoT endpoint down (listener closed, connections dropped) or back up on the same port
//! - `GET /clock`, `POST /clock/advance` `{"seconds": 86400}`: the terminals' clock, moved forward (day
//!   roll-over, menu and card time-outs, kick expiry) without waiting
//! - `GET /terminals/{tmsId}/service-password`: today's SERVICE MENU password on the terminals' clock (R17, R20)
//! - `GET /events`: Server-Sent Events, one JSON object each ([`SandboxEvent`]): payment statuses, webhook
//!   attempts, terminal texts of payments, every terminal's screen, link and journal changes, its kicks, and
//!   every OPI message between the TAS and a terminal (card numbers masked)
//!
//! The answer to an operation is the terminal after it (the status once it changed, or as it is after 1 s).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ccv_terminal::{CardEvent, Input, Key, TmsChange};
use ccv_terminal_io::Status;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::SandboxTerminal;

/// One event on `GET /events`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxEvent {
    /// A number that grows with every event of the process (a reader that also asked for the recent events drops
    /// the ones it has already seen by it).
    pub seq: u64,
    /// Epoch milliseconds.
    pub at: u64,
    /// The terminal concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tms_id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub what: EventKind,
}

/// What a [`SandboxEvent`] says.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum EventKind {
    /// The terminal's screen changed.
    Screen {
        /// Its lines.
        lines: Vec<String>,
        /// What it means, in English.
        gloss: String,
    },
    /// The MQTT link changed.
    #[serde(rename_all = "camelCase")]
    Mqtt {
        /// `up`, `connecting`, `down`, `off`.
        state: String,
        /// Why, when not up.
        reason: Option<String>,
    },
    /// The OPI link (TAS) went up or down.
    #[serde(rename_all = "camelCase")]
    Link {
        /// Whether it is up.
        up: bool,
    },
    /// A journal line.
    Journal {
        /// The line.
        line: String,
    },
    /// The terminal received a kick: a local kick on its trigger port, or a cloud command on its MQTT command
    /// topic (whatever it then decides; its answer shows in the payment's events and its journal).
    #[serde(rename_all = "camelCase")]
    Kick {
        /// `local` or `cloud`.
        via: KickVia,
        /// How many of this kind it received since it started, this one included.
        count: u64,
    },
    /// An OPI message between the mock TAS and the terminal, as it went over the socket (card numbers masked:
    /// first six and last four digits at most).
    #[serde(rename_all = "camelCase")]
    Opi {
        /// Which way it went.
        direction: OpiDirection,
        /// The message: `CardServiceRequest`, `CardServiceResponse`, `ServiceRequest`, `ServiceResponse`,
        /// `DeviceRequest`, `DeviceResponse`; `null` for a frame that is not one of them.
        kind: Option<String>,
        /// The XML as sent.
        xml: String,
    },
    /// Something from the payment API.
    Payment {
        /// The payment API's event: `{"type": "status", "reference", "status", "failureCode"}`,
        /// `{"type": "webhook", ...}` (a webhook attempt) or `{"type": "terminalMessage", "reference", "text"}`.
        #[schema(value_type = Object)]
        event: ccv_vpos::VposEvent,
    },
}

/// How a kick arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum KickVia {
    /// Cloud Connect 1.0: HTTP on the terminal's trigger port.
    Local,
    /// Cloud Connect 2.0: a command on the terminal's MQTT command topic.
    Cloud,
}

/// Which way an OPI message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum OpiDirection {
    /// From the TAS to the terminal.
    ToTerminal,
    /// From the terminal to the TAS.
    FromTerminal,
}

impl SandboxEvent {
    /// The event of a TAS transcript entry that is an OPI frame (`None` for the TAS's connection notes).
    pub(crate) fn opi(entry: ccv_tas::TranscriptEntry) -> Option<SandboxEvent> {
        let direction = match entry.dir {
            ccv_tas::Direction::ToTerminal => OpiDirection::ToTerminal,
            ccv_tas::Direction::FromTerminal => OpiDirection::FromTerminal,
            ccv_tas::Direction::Event => return None,
        };
        let kind = entry.kind.map(|k| k.as_str().to_owned());
        Some(SandboxEvent {
            seq: next_seq(),
            at: entry.at_ms,
            tms_id: entry.tms_id,
            what: EventKind::Opi { direction, kind, xml: entry.xml },
        })
    }
}

fn next_seq() -> u64 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl SandboxEvent {
    pub(crate) fn new(tms_id: Option<String>, what: EventKind) -> SandboxEvent {
        SandboxEvent { seq: next_seq(), at: now_ms(), tms_id, what }
    }
}

/// What the event stream last told of one terminal: the parts of its status that make events (the journal
/// only by its last line, so that no status is copied whole).
#[derive(Debug, Default)]
pub(crate) struct Seen {
    screen: Vec<String>,
    mqtt: (String, Option<String>),
    link_up: bool,
    last_journal: Option<String>,
    local_kicks: u64,
    cloud_commands: u64,
}

impl Seen {
    /// The events of the change to `new`; afterwards `self` is `new`'s.
    pub(crate) fn update(&mut self, tms_id: &str, new: &Status) -> Vec<SandboxEvent> {
        let ev = |what| SandboxEvent::new(Some(tms_id.to_owned()), what);
        let mut out = Vec::new();
        if self.screen != new.screen {
            self.screen.clone_from(&new.screen);
            out.push(ev(EventKind::Screen { lines: new.screen.clone(), gloss: new.screen_gloss.clone() }));
        }
        if self.mqtt.0 != new.mqtt.state || self.mqtt.1 != new.mqtt.last_failure {
            self.mqtt = (new.mqtt.state.clone(), new.mqtt.last_failure.clone());
            // The reason of a link that is up is history, not news.
            let reason = if new.mqtt.state == "up" { None } else { new.mqtt.last_failure.clone() };
            out.push(ev(EventKind::Mqtt { state: new.mqtt.state.clone(), reason }));
        }
        for (via, seen, now) in [
            (KickVia::Local, &mut self.local_kicks, new.local_kicks),
            (KickVia::Cloud, &mut self.cloud_commands, new.mqtt.commands),
        ] {
            if now > *seen {
                // Kicks come one at a time; one event says how many there have been.
                *seen = now;
                out.push(ev(EventKind::Kick { via, count: now }));
            }
        }
        if self.link_up != new.link_up {
            self.link_up = new.link_up;
            out.push(ev(EventKind::Link { up: new.link_up }));
        }
        // The journal keeps the last lines; new ones are those after the last line told.
        let fresh = match &self.last_journal {
            Some(last) => match new.journal.iter().rposition(|l| l == last) {
                Some(i) => &new.journal[i + 1..],
                None => &new.journal[..],
            },
            None => &new.journal[..],
        };
        out.extend(fresh.iter().map(|line| ev(EventKind::Journal { line: line.clone() })));
        if !fresh.is_empty() {
            self.last_journal = new.journal.last().cloned();
        }
        out
    }
}

/// What the control API works on.
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) clock: ccv_terminal_io::Clock,
    pub(crate) terminals: Arc<Vec<SandboxTerminal>>,
    pub(crate) vpos: ccv_vpos::Vpos,
    pub(crate) tas: Arc<ccv_tas::Tas>,
    pub(crate) endpoint: Arc<ccv_iot::Endpoint>,
    pub(crate) info: Arc<dyn Fn() -> crate::SandboxInfo + Send + Sync>,
    pub(crate) events: broadcast::Sender<SandboxEvent>,
    /// The latest events, oldest first (at most [`RECENT_EVENTS`]), for readers that ask for them on connecting.
    pub(crate) recent: Arc<std::sync::Mutex<std::collections::VecDeque<SandboxEvent>>>,
}

/// How many of the latest events the control API keeps for `GET /events?replay=N`.
pub const RECENT_EVENTS: usize = 1000;

/// Keeps the latest [`RECENT_EVENTS`] events of `events` in `recent` until `stop`.
pub(crate) fn keep_recent(
    events: &broadcast::Sender<SandboxEvent>,
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<SandboxEvent>>>,
    stop: tokio_util::sync::CancellationToken,
) {
    crate::for_each_received(events.subscribe(), stop, move |e| {
        let mut r = recent.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() == RECENT_EVENTS {
            r.pop_front();
        }
        r.push_back(e);
    });
}

/// A terminal as the control API shows it: what the sandbox table shows, and its live status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TerminalView {
    #[serde(flatten)]
    info: crate::TerminalInfo,
    /// `TCP FLAT-OUTGOING` or `DEFAULT ITS`.
    pos_opi_mode: String,
    /// The TAS it dials, `host:port`.
    tas: String,
    /// The POS's printer is out of paper (a fault switch).
    printer_out_of_paper: bool,
    /// On its merchant's whitelist in the payment API now (R10).
    on_whitelist: bool,
    /// The live status: `screen` (lines), `linkUp`, `localKicks`, `dialAttempts`, `lastDialFailure`,
    /// `lastCloseReason`, `journal` (this run's lines), `inTransaction`, `mqtt` (`state`, `endpoint`,
    /// `lastFailure`, ...), `migration`, `diagnosis` (`DiagnosisReason` names), `network`, `latencyMs`, `settings`
    /// (`software`, `tms` and `installed` parameters, `posOpiMode`, `triggerPort`, `day`, `activated`, `totals`).
    #[schema(value_type = Object)]
    status: Status,
}

fn view(c: &Control, t: &SandboxTerminal) -> TerminalView {
    view_on(c, t, on_whitelist(c, t))
}

/// [`view`] with the whitelist already looked up.
fn view_on(c: &Control, t: &SandboxTerminal, on_whitelist: bool) -> TerminalView {
    let status = t.process.status();
    let pos_opi_mode = match &status.settings {
        Some(s) => s.pos_opi_mode.as_str().to_owned(),
        None => t.process.pos_opi_mode().to_owned(),
    };
    TerminalView {
        info: t.info(),
        pos_opi_mode,
        tas: t.process.tas_target().to_owned(),
        printer_out_of_paper: c.tas.fails_printer(&t.spec.tms_id),
        on_whitelist,
        status,
    }
}

/// Whether the terminal is on its merchant's whitelist now (one indexed read of the payment API's store).
fn on_whitelist(c: &Control, t: &SandboxTerminal) -> bool {
    let store = c.vpos.store();
    store
        .merchant(&t.spec.merchant)
        .is_ok_and(|m| store.is_whitelisted(m.id, &t.spec.tms_id).unwrap_or(false))
}

/// On or off the whitelist.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhitelistBody {
    /// `true`: put the TMS ID on its merchant's whitelist; `false`: take it off.
    on: bool,
}

#[utoipa::path(post, path = "/terminals/{tms_id}/whitelist", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    request_body(content = WhitelistBody),
    responses((status = 200, description = "The terminal, with `onWhitelist`", body = TerminalView),
              (status = 400, description = "A malformed body", body = ControlErrorBody),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn whitelist(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    let WhitelistBody { on } = json(&body, r#"{"on": true}"#)?;
    let (store, merchant) = (c.vpos.store().clone(), t.spec.merchant.clone());
    let now = c.clock.now_ms() as i64;
    tokio::task::spawn_blocking(move || {
        if on {
            store.whitelist_add(&merchant, &tms_id, now)
        } else {
            store.whitelist_remove(&merchant, &tms_id)
        }
    })
    .await
    .map_err(|e| ControlError::internal(e.to_string()))?
    .map_err(|e| ControlError::internal(e.to_string()))?;
    Ok(axum::Json(view(&c, t)).into_response())
}

/// An error answer: `{"type", "message"}` like the payment API's.
pub(crate) struct ControlError(StatusCode, String);

impl ControlError {
    pub(crate) fn not_found(message: String) -> ControlError {
        ControlError(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn internal(message: String) -> ControlError {
        ControlError(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// The body of an error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ControlErrorBody {
    /// `not_found`, `invalid_request` or `conflict`.
    #[serde(rename = "type")]
    kind: String,
    /// What was wrong and what to do.
    message: String,
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let kind = match self.0 {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::INTERNAL_SERVER_ERROR => "internal",
            _ => "invalid_request",
        };
        (self.0, axum::Json(ControlErrorBody { kind: kind.to_owned(), message: self.1 })).into_response()
    }
}

fn find<'a>(c: &'a Control, tms_id: &str) -> Result<&'a SandboxTerminal, ControlError> {
    c.terminals.iter().find(|t| t.spec.tms_id == tms_id).ok_or_else(|| {
        ControlError(
            StatusCode::NOT_FOUND,
            format!("no terminal {tms_id} in this sandbox: GET /terminals lists them"),
        )
    })
}

/// The control router, for a listener on `addr` (only pages of its own origin may call it from a browser).
pub(crate) fn router(control: Control, addr: std::net::SocketAddr) -> Router {
    let own: Arc<[String]> = Arc::from(ccv_tas::api::own_origins(addr));
    Router::new()
        .route("/", get(crate::dashboard::index))
        .route("/ui/app.js", get(crate::dashboard::script))
        .route("/ui/app.css", get(crate::dashboard::style))
        .route("/payments", get(crate::dashboard::list).post(crate::dashboard::pay))
        .route("/payments/{reference}", get(crate::dashboard::one))
        .route("/sandbox", get(sandbox_info))
        .route("/terminals", get(list))
        .route("/terminals/{tms_id}", get(one))
        .route("/terminals/{tms_id}/keys", post(keys))
        .route("/terminals/{tms_id}/card", post(card))
        .route("/terminals/{tms_id}/tms", post(tms_change))
        .route("/terminals/{tms_id}/tms/contact", post(tms_contact))
        .route("/terminals/{tms_id}/power", post(power))
        .route("/terminals/{tms_id}/doctor", get(doctor))
        .route("/terminals/{tms_id}/faults", post(faults))
        .route("/terminals/{tms_id}/whitelist", post(whitelist))
        .route("/faults", get(sandbox_faults).post(set_sandbox_faults))
        .route("/events", get(events))
        .route("/clock", get(clock_now))
        .route("/clock/advance", post(clock_advance))
        .route("/terminals/{tms_id}/service-password", get(service_password))
        .route("/openapi.json", get(openapi_document))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        // A web page elsewhere must not drive the terminals through the user's browser.
        .layer(axum::middleware::from_fn_with_state(own, ccv_tas::api::same_site_json_only))
        .with_state(control)
}

#[utoipa::path(get, path = "/sandbox", tag = "sandbox",
    responses((status = 200, description = "What the start printed: URLs, keys, CA, terminals", body = crate::SandboxInfo)))]
async fn sandbox_info(State(c): State<Control>) -> Response {
    axum::Json((c.info)()).into_response()
}

#[utoipa::path(get, path = "/terminals", tag = "terminals",
    responses((status = 200, description = "Every terminal, in fleet order", body = Vec<TerminalView>)))]
async fn list(State(c): State<Control>) -> Result<Response, ControlError> {
    // Each merchant's whitelist once, off the async threads, rather than two reads per terminal.
    let (store, terminals) = (c.vpos.store().clone(), c.terminals.clone());
    let listed = tokio::task::spawn_blocking(move || {
        let mut lists: std::collections::HashMap<&str, std::collections::HashSet<String>> =
            Default::default();
        for t in terminals.iter() {
            if !lists.contains_key(t.spec.merchant.as_str()) {
                let list = store.whitelist(&t.spec.merchant).unwrap_or_default();
                lists.insert(&t.spec.merchant, list.into_iter().collect());
            }
        }
        terminals
            .iter()
            .map(|t| lists[t.spec.merchant.as_str()].contains(&t.spec.tms_id))
            .collect::<Vec<bool>>()
    })
    .await
    .map_err(|e| ControlError::internal(e.to_string()))?;
    let views: Vec<TerminalView> = c.terminals.iter().zip(listed).map(|(t, on)| view_on(&c, t, on)).collect();
    Ok(axum::Json(views).into_response())
}

#[utoipa::path(get, path = "/terminals/{tms_id}", tag = "terminals", params(("tms_id" = String, Path, description = "TMS ID")),
    responses((status = 200, description = "The terminal", body = TerminalView),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn one(State(c): State<Control>, Path(tms_id): Path<String>) -> Result<Response, ControlError> {
    Ok(axum::Json(view(&c, find(&c, &tms_id)?)).into_response())
}

/// Feeds `inputs` to the terminal and answers with it once its status changed (at most 1 s later).
async fn operate(c: &Control, t: &SandboxTerminal, inputs: Vec<Input>) -> Result<Response, ControlError> {
    let mut watch = t.process.watch_status();
    watch.mark_unchanged();
    for input in inputs {
        if !t.process.input(input).await {
            return Err(ControlError(
                StatusCode::CONFLICT,
                format!("terminal {} has stopped", t.spec.tms_id),
            ));
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), watch.changed()).await;
    Ok(axum::Json(view(c, t)).into_response())
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ControlError> {
    serde_json::from_slice(body)
        .map_err(|e| ControlError(StatusCode::BAD_REQUEST, format!("the body is not {what}: {e}")))
}

/// Keys to press.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    /// E.g. `MENU 3 OK`.
    script: String,
}

#[utoipa::path(post, path = "/terminals/{tms_id}/keys", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    request_body(content = KeysBody, description = "Keys as on the keypad: `0`..`9`, `.`, `OK`, `STOP`, `CLEAR`, `MENU`; a run of digits types each"),
    responses((status = 200, description = "The terminal after the keys", body = TerminalView),
              (status = 400, description = "An unknown key or a malformed body", body = ControlErrorBody),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn keys(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    let KeysBody { script } = json(&body, r#"{"script": "MENU 3 OK"}"#)?;
    let keys = Key::parse_script(&script).map_err(|e| ControlError(StatusCode::BAD_REQUEST, e))?;
    operate(&c, t, keys.into_iter().map(Input::Key).collect()).await
}

#[utoipa::path(post, path = "/terminals/{tms_id}/card", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    request_body(content = Object, description = "A card event: `{\"presented\": \"maestro\"}` (test cards: docs/TERMINAL.md), `{\"pin\": \"1234\"}`, `\"removed\"`, `\"customer_cancel\"`"),
    responses((status = 200, description = "The terminal after the event", body = TerminalView),
              (status = 400, description = "Not a card event", body = ControlErrorBody),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn card(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    let event: CardEvent = json(
        &body,
        r#"a card event: {"presented": "maestro"}, {"pin": "1234"}, "removed", "customer_cancel""#,
    )?;
    operate(&c, t, vec![Input::Card(event)]).await
}

#[utoipa::path(post, path = "/terminals/{tms_id}/tms", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    request_body(content = Object, description = "A change on the TMS side: `{\"cloud_connection\": true}`, `{\"mqt\": true}`, `{\"mqt_service_enable\": true}`, `{\"mqt_service_use_ssl\": true}`, `{\"mgt_subscription\": \"NL-CAT\"}`, `{\"signature_algorithm\": \"sha256\"}`, `{\"mqt_service\": {\"host\", \"port\"}}`, `{\"tas\": {\"host\", \"port\"}}`, `{\"software_target\": \"14.0.11.01\"}`"),
    responses((status = 200, description = "The terminal after the change (it sees it at its next TMS contact or installation)", body = TerminalView),
              (status = 400, description = "Not a TMS change", body = ControlErrorBody),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn tms_change(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    let change: TmsChange = json(&body, r#"a TMS change such as {"mqt": true}"#)?;
    operate(&c, t, vec![Input::TmsChange(change)]).await
}

#[utoipa::path(post, path = "/terminals/{tms_id}/tms/contact", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    responses((status = 200, description = "The terminal after contacting TMS (a sync without installation, R7, R14)", body = TerminalView),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn tms_contact(State(c): State<Control>, Path(tms_id): Path<String>) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    operate(&c, t, vec![Input::ContactTms]).await
}

/// Power on or off.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PowerBody {
    /// `true`: on.
    on: bool,
}

#[utoipa::path(post, path = "/terminals/{tms_id}/power", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    request_body(content = PowerBody),
    responses((status = 200, description = "The terminal after switching", body = TerminalView),
              (status = 400, description = "A malformed body", body = ControlErrorBody),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn power(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    let PowerBody { on } = json(&body, r#"{"on": true}"#)?;
    operate(&c, t, vec![if on { Input::PowerOn } else { Input::PowerOff }]).await
}

/// Fault switches; an absent field keeps its setting.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FaultsBody {
    /// DNS servers configured on the terminal (`false`: R23's "no DNS").
    dns_configured: Option<bool>,
    /// The shop firewall lets outgoing TCP 443 through (`false`: blocked, R11).
    #[serde(rename = "outgoing443")]
    outgoing_443: Option<bool>,
    /// The POS's printer is out of paper (the TAS fails the terminal's print requests).
    printer_out_of_paper: Option<bool>,
    /// Latency added to the terminal's network, in milliseconds (0: none, at most 10000): its TAS dial, every
    /// OPI message it sends to the TAS and each MQTT connection attempt wait this long.
    latency_ms: Option<u64>,
    /// The mock TAS is down, for every terminal (as `POST /faults`).
    tas_down: Option<bool>,
    /// The IoT endpoint is down, for every terminal (as `POST /faults`).
    iot_down: Option<bool>,
}

/// The most latency a terminal's network can be given.
const MAX_LATENCY_MS: u64 = 10_000;

#[utoipa::path(post, path = "/terminals/{tms_id}/faults", tag = "operate", params(("tms_id" = String, Path, description = "TMS ID")),
    request_body(content = FaultsBody, description = "Each switch optional; an absent one keeps its setting"),
    responses((status = 200, description = "The terminal after the switches", body = TerminalView),
              (status = 400, description = "An unknown switch, a latency above 10000 ms or a malformed body", body = ControlErrorBody),
              (status = 404, description = "No such terminal", body = ControlErrorBody),
              (status = 409, description = "The TAS or the IoT endpoint cannot listen on its port again", body = ControlErrorBody)))]
async fn faults(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    let f: FaultsBody = json(
        &body,
        r#"{"dnsConfigured": false, "outgoing443": false, "printerOutOfPaper": true, "latencyMs": 250, "tasDown": true, "iotDown": true}"#,
    )?;
    if f.latency_ms.is_some_and(|ms| ms > MAX_LATENCY_MS) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            format!("latencyMs is at most {MAX_LATENCY_MS} (10 s); 0 takes the latency away"),
        ));
    }
    switch_sandbox(&c, f.tas_down, f.iot_down).await?;
    if let Some(ms) = f.latency_ms {
        t.process.set_latency(Duration::from_millis(ms));
    }
    if let Some(out) = f.printer_out_of_paper {
        // The printer is the POS's (the TAS answers the terminal's print requests): out of paper fails them.
        c.tas.set_fail_printer(&tms_id, out);
    }
    let mut network = t.process.status().network;
    let before = network.clone();
    if let Some(dns) = f.dns_configured {
        network.dns_configured = dns;
    }
    if let Some(open) = f.outgoing_443 {
        network.outgoing_443_allowed = open;
    }
    if network == before {
        return Ok(axum::Json(view(&c, t)).into_response());
    }
    operate(&c, t, vec![Input::SetNetwork(network)]).await
}

/// The sandbox-wide switches; an absent field keeps its setting.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SandboxFaultsBody {
    /// The mock TAS is down: its terminal port is closed (a dial is refused) and every terminal connection is
    /// dropped (a running payment ends with an unknown outcome); `false` listens on the same port again.
    tas_down: Option<bool>,
    /// The IoT endpoint is down: its port is closed and every MQTT connection dropped (terminals' links go down
    /// and they retry with their back-off); `false` listens on the same port again. Sessions and subscriptions
    /// are kept meanwhile.
    iot_down: Option<bool>,
}

/// The sandbox-wide switches as they are.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SandboxFaultsView {
    /// The mock TAS is down.
    tas_down: bool,
    /// The IoT endpoint is down.
    iot_down: bool,
}

fn sandbox_faults_view(c: &Control) -> SandboxFaultsView {
    SandboxFaultsView { tas_down: c.tas.is_down(), iot_down: c.endpoint.is_down() }
}

/// Takes the TAS and the IoT endpoint down or brings them back, as asked.
async fn switch_sandbox(
    c: &Control,
    tas_down: Option<bool>,
    iot_down: Option<bool>,
) -> Result<(), ControlError> {
    let again = |party: &str, e: &dyn std::fmt::Display| {
        ControlError(
            StatusCode::CONFLICT,
            format!("the {party} cannot listen on its port again: {e}; free the port and switch it up again"),
        )
    };
    if let Some(down) = tas_down {
        c.tas.set_down(down).await.map_err(|e| again("mock TAS", &e))?;
    }
    if let Some(down) = iot_down {
        c.endpoint.set_down(down).await.map_err(|e| again("IoT endpoint", &e))?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/faults", tag = "operate",
    responses((status = 200, description = "The sandbox-wide switches", body = SandboxFaultsView)))]
async fn sandbox_faults(State(c): State<Control>) -> Response {
    axum::Json(sandbox_faults_view(&c)).into_response()
}

#[utoipa::path(post, path = "/faults", tag = "operate",
    request_body(content = SandboxFaultsBody, description = "Each switch optional; an absent one keeps its setting"),
    responses((status = 200, description = "The switches after the change", body = SandboxFaultsView),
              (status = 400, description = "An unknown switch or a malformed body", body = ControlErrorBody),
              (status = 409, description = "The TAS or the IoT endpoint cannot listen on its port again", body = ControlErrorBody)))]
async fn set_sandbox_faults(
    State(c): State<Control>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    let f: SandboxFaultsBody = json(&body, r#"{"tasDown": true, "iotDown": false}"#)?;
    switch_sandbox(&c, f.tas_down, f.iot_down).await?;
    Ok(axum::Json(sandbox_faults_view(&c)).into_response())
}

#[utoipa::path(get, path = "/terminals/{tms_id}/doctor", tag = "terminals", params(("tms_id" = String, Path, description = "TMS ID")),
    responses((status = 200, description = "The installer's checklist (R23)", body = crate::doctor::Report),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn doctor(State(c): State<Control>, Path(tms_id): Path<String>) -> Result<Response, ControlError> {
    let t = find(&c, &tms_id)?;
    Ok(axum::Json(t.doctor(&c.vpos).await).into_response())
}

/// The terminals' clock.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClockView {
    /// Milliseconds since the Unix epoch on the terminals' clock.
    now_ms: u64,
    /// How far it is ahead of the system clock, in milliseconds (negative: behind, when it started at a fixed
    /// instant in the past).
    offset_ms: i64,
}

fn clock_view(c: &Control) -> ClockView {
    ClockView { now_ms: c.clock.now_ms(), offset_ms: c.clock.offset_ms() }
}

#[utoipa::path(get, path = "/clock", tag = "clock", responses((status = 200, description = "The terminals' clock", body = ClockView)))]
async fn clock_now(State(c): State<Control>) -> Response {
    axum::Json(clock_view(&c)).into_response()
}

/// How far to move the clock.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdvanceBody {
    /// Seconds forward (at most 366 days at once).
    seconds: u64,
}

#[utoipa::path(post, path = "/clock/advance", tag = "clock", request_body(content = AdvanceBody),
    responses((status = 200, description = "The clock after moving it; every terminal is told to look at it (its due timers fire)", body = ClockView),
              (status = 400, description = "A malformed body or more than 366 days", body = ControlErrorBody)))]
async fn clock_advance(State(c): State<Control>, body: axum::body::Bytes) -> Result<Response, ControlError> {
    let AdvanceBody { seconds } = json(&body, r#"{"seconds": 86400}"#)?;
    if seconds > 366 * 86_400 {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "at most 366 days (31622400 seconds) at once".into(),
        ));
    }
    c.clock.advance(Duration::from_secs(seconds));
    // Every terminal looks at the clock at its next input: a tick, in order after what it has queued, fires its
    // due timers (a menu time-out shows on the event stream).
    for t in c.terminals.iter() {
        let _ = t.process.input(Input::Tick).await;
    }
    Ok(axum::Json(clock_view(&c)).into_response())
}

/// A service password.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordView {
    /// The terminal.
    tms_id: String,
    /// Today's SERVICE MENU password on the terminals' clock.
    service_password: String,
}

#[utoipa::path(get, path = "/terminals/{tms_id}/service-password", tag = "terminals", params(("tms_id" = String, Path, description = "TMS ID")),
    responses((status = 200, description = "Today's SERVICE MENU password (R17, R20)", body = PasswordView),
              (status = 404, description = "No such terminal", body = ControlErrorBody)))]
async fn service_password(
    State(c): State<Control>,
    Path(tms_id): Path<String>,
) -> Result<Response, ControlError> {
    find(&c, &tms_id)?;
    let now = ccv_terminal::Timestamp::from_millis(c.clock.now_ms());
    let service_password = ccv_terminal::service_password_local(&tms_id, now);
    Ok(axum::Json(PasswordView { tms_id, service_password }).into_response())
}

/// `?replay=N`.
#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    replay: Option<usize>,
}

#[utoipa::path(get, path = "/events", tag = "events",
    params(("replay" = Option<usize>, Query, description = "First send up to this many of the latest events (at most 1000), then the live ones; an event can come twice, once in each part (same `seq`)")),
    responses((status = 200, description = "Server-Sent Events (`text/event-stream`): one `SandboxEvent` as JSON per `data:` line; a reader that lags gets `{\"type\": \"lagged\", \"missed\": N}`", content_type = "text/event-stream", body = SandboxEvent)))]
async fn events(
    State(c): State<Control>,
    axum::extract::Query(q): axum::extract::Query<EventsQuery>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    // Subscribed before the recent events are copied: nothing falls between the two.
    let rx = c.events.subscribe();
    let replay: Vec<Result<Event, Infallible>> = match q.replay {
        Some(n) if n > 0 => {
            let recent = c.recent.lock().unwrap_or_else(|p| p.into_inner());
            let skip = recent.len().saturating_sub(n.min(RECENT_EVENTS));
            recent
                .iter()
                .skip(skip)
                .map(|e| Ok(Event::default().data(serde_json::to_string(e).unwrap_or_default())))
                .collect()
        }
        _ => Vec::new(),
    };
    let live = futures::stream::unfold(rx, |mut rx| async move {
        let data = match rx.recv().await {
            Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
            // A slow reader misses the oldest events; it is told how many.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                serde_json::json!({"type": "lagged", "missed": n}).to_string()
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().data(data)), rx))
    });
    Sse::new(futures::stream::iter(replay).chain(live)).keep_alive(KeepAlive::default())
}

async fn openapi_document() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

/// The control API's OpenAPI 3 description.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ccv-emu sandbox control API",
        description = "Operate and watch the terminals of a running sandbox (docs/SANDBOX.md): their live status, \
keys, card events, TMS changes, power, fault switches (per terminal and sandbox-wide: TAS or IoT endpoint down), \
the installer's checklist (doctor) and an event stream. \
Bound to loopback, no key."
    ),
    paths(
        sandbox_info,
        list,
        one,
        keys,
        card,
        tms_change,
        tms_contact,
        power,
        faults,
        sandbox_faults,
        set_sandbox_faults,
        doctor,
        clock_now,
        clock_advance,
        service_password,
        events,
        whitelist,
        crate::dashboard::list,
        crate::dashboard::one,
        crate::dashboard::pay
    ),
    components(schemas(
        ClockView,
        AdvanceBody,
        PasswordView,
        TerminalView,
        ControlErrorBody,
        crate::dashboard::PayBody,
        WhitelistBody,
        KeysBody,
        PowerBody,
        FaultsBody,
        SandboxFaultsBody,
        SandboxFaultsView,
        SandboxEvent,
        EventKind,
        KickVia,
        OpiDirection,
        crate::SandboxInfo,
        crate::TerminalInfo,
        crate::MerchantInfo,
        crate::doctor::Report,
        crate::doctor::Check
    ))
)]
pub struct ControlDoc;

/// The description as pretty JSON (checked in as `docs/control-openapi.json`).
pub fn openapi_json() -> String {
    use utoipa::OpenApi as _;
    ControlDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}
