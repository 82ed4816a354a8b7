//! A small Chrome DevTools Protocol driver for browser tests: a headless Chromium on a fresh profile, pages
//! driven by real mouse and keyboard input, JavaScript evaluated in the page, screenshots and the page's
//! console errors.
//!
//! What it does: [`Browser::launch`] starts Chromium with `--remote-debugging-port=0`, reads the `ws://` address
//! it prints and keeps one WebSocket to it; [`Browser::new_page`] opens a tab and attaches to it with a flat
//! session, so every page shares that one connection. A reader task matches replies to calls by id, hands events
//! to whoever waits for them and records each page's console errors; it ends when the socket closes.
//!
//! What it does not do: TLS (the connection is on loopback), frames other than the main one, or waiting by
//! sleeping: every wait is for a reply or an event, bounded by a time-out ([`DEFAULT_TIMEOUT`] per call).
//!
//! ```no_run
//! # async fn demo(chromium: &std::path::Path) -> Result<(), ccv_test_support::CdpError> {
//! use ccv_test_support::{Browser, Key};
//! let browser = Browser::launch(chromium).await?;
//! let page = browser.new_page().await?;
//! page.goto("http://127.0.0.1:8080/").await?;
//! page.click("#pay").await?;
//! page.press_key(Key::Tab).await?;
//! page.wait_for("document.querySelector('#status').textContent === 'paid'", std::time::Duration::from_secs(5))
//!     .await?;
//! assert!(page.console_errors().await?.is_empty());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one DevTools call may take before it fails with [`CdpError::Timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long Chromium may take to start and print its DevTools address.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The viewport (and so the screenshot) size of every page, in CSS pixels at a device scale of 1.
pub const VIEWPORT: (u32, u32) = (1280, 900);

/// What went wrong while driving the browser. Each message says what failed and what to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CdpError {
    /// Chromium could not be started at all.
    #[error("cannot start {path}: {source}; is Chromium installed (apt-get install chromium)?")]
    Launch {
        /// The executable tried.
        path: PathBuf,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The temporary profile directory could not be made.
    #[error(
        "cannot create a temporary Chromium profile directory: {0}; is the temporary directory writable?"
    )]
    Profile(std::io::Error),
    /// Chromium did not print `DevTools listening on ws://...` (it exited, or took too long).
    #[error(
        "Chromium did not print its DevTools address ({why}); its last stderr lines were:\n{stderr}\n\
         run it by hand with --headless=new --remote-debugging-port=0 to see why"
    )]
    NoDevTools {
        /// "it exited" or how long we waited.
        why: String,
        /// The last lines Chromium wrote to stderr.
        stderr: String,
    },
    /// The WebSocket to the DevTools address could not be opened.
    #[error("cannot open the DevTools WebSocket {url}: {source}")]
    Connect {
        /// The address Chromium printed.
        url: String,
        /// Why the connection failed.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// A call got no reply in time.
    #[error("{method} got no reply within {timeout:?}; the browser hangs or the page blocks its main thread")]
    Timeout {
        /// The DevTools method called.
        method: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The browser answered a call with an error.
    #[error("{method} failed in the browser: {message} (code {code})")]
    Protocol {
        /// The DevTools method called.
        method: String,
        /// The protocol's error code.
        code: i64,
        /// The protocol's error message.
        message: String,
    },
    /// The browser answered with something this driver does not understand.
    #[error("unexpected reply to {method}: {detail}")]
    BadReply {
        /// The DevTools method called.
        method: String,
        /// What was missing or wrong.
        detail: String,
    },
    /// The connection is gone: the browser exited or crashed, or was dropped.
    #[error("the DevTools connection is closed: the browser exited, crashed or was dropped")]
    Closed,
    /// JavaScript evaluated by [`Page::eval`] threw (or its promise was rejected).
    #[error("JavaScript threw: {message}")]
    Js {
        /// The exception as the page describes it (with its stack when there is one).
        message: String,
    },
    /// A [`Page::wait_for`] condition was not truthy in time.
    #[error("the condition `{condition}` did not hold within {timeout:?}{}", last_error.as_ref().map(|e| format!("; it last threw: {e}")).unwrap_or_default())]
    WaitTimeout {
        /// The JavaScript condition.
        condition: String,
        /// How long it waited.
        timeout: Duration,
        /// The last exception the condition threw, when it threw.
        last_error: Option<String>,
    },
    /// No element matches a selector given to [`Page::click`].
    #[error("no element matches the selector `{selector}`")]
    NoElement {
        /// The CSS selector.
        selector: String,
    },
    /// The element to click has no area (hidden, `display: none`, or empty).
    #[error("the element `{selector}` has no area to click; is it hidden or empty?")]
    NotVisible {
        /// The CSS selector.
        selector: String,
    },
    /// Another element lies over the centre of the element to click.
    #[error("the element `{selector}` is covered at its centre by {by}; a user could not click it")]
    Covered {
        /// The CSS selector.
        selector: String,
        /// The element on top (tag, id and classes).
        by: String,
    },
    /// [`Page::goto`] did not load the page.
    #[error("navigation to {url} failed: {error}")]
    Navigate {
        /// The address.
        url: String,
        /// The browser's reason (`net::ERR_CONNECTION_REFUSED`, ...).
        error: String,
    },
    /// A screenshot could not be decoded or written.
    #[error("cannot write the screenshot {path}: {detail}")]
    Screenshot {
        /// Where it was to be written.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

/// A headless Chromium on a fresh temporary profile, and the one DevTools connection to it. Dropping it kills
/// the browser and the processes it started, waits for it to exit and removes the profile.
pub struct Browser {
    conn: Arc<Connection>,
    reader: tokio::task::JoinHandle<()>,
    profile_dir: PathBuf,
    process: Process,
}

/// The browser process and its profile. When dropped (also when a launch fails or is cancelled) the browser and
/// every process it started are killed, the browser is waited for (no zombie is left) and the profile removed.
struct Process {
    child: Child,
    profile: Option<tempfile::TempDir>,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Its helpers (zygotes, renderers, the network service) would outlive it for a moment and write into the
        // profile while it is removed; they are killed with it.
        let pid = self.child.id();
        let mut pids = descendants(pid);
        pids.push(pid);
        let all: Vec<String> = pids.iter().map(u32::to_string).collect();
        let killed =
            std::process::Command::new("kill").arg("-KILL").args(&all).stderr(Stdio::null()).status();
        if !killed.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(profile) = self.profile.take() {
            let path = profile.path().to_path_buf();
            // A helper killed in the middle of a write may finish it while the first removal runs.
            if profile.close().is_err() {
                for _ in 0..3 {
                    if std::fs::remove_dir_all(&path).is_ok() || !path.exists() {
                        break;
                    }
                }
            }
        }
    }
}

/// The processes below `pid`, from `/proc/PID/task/TID/children` (none where `/proc` does not say); at most 4096.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found: Vec<u32> = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if found.len() < 4096 && !found.contains(&child) {
                    found.push(child);
                    queue.push(child);
                }
            }
        }
    }
    found
}

impl Browser {
    /// Starts `chromium` headless (window [`VIEWPORT`], no GPU, extensions, first-run or background networking,
    /// `--no-sandbox` only as root) and connects to it; waits at most [`LAUNCH_TIMEOUT`] for its DevTools address.
    pub async fn launch(chromium: &Path) -> Result<Browser, CdpError> {
        let profile = tempfile::Builder::new().prefix("ccv-cdp-").tempdir().map_err(CdpError::Profile)?;
        let mut cmd = std::process::Command::new(chromium);
        cmd.args([
            "--headless=new",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-component-extensions-with-background-pages",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--disable-breakpad",
            "--disable-quic",
            "--mute-audio",
            "--password-store=basic",
        ])
        .arg(format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1))
        .arg(format!("--user-data-dir={}", profile.path().display()));
        if running_as_root() {
            // Chromium refuses to start its sandbox as root.
            cmd.arg("--no-sandbox");
        }
        cmd.arg("about:blank").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let child =
            cmd.spawn().map_err(|source| CdpError::Launch { path: chromium.to_path_buf(), source })?;
        let profile_dir = profile.path().to_path_buf();
        let mut process = Process { child, profile: Some(profile) };
        let Some(stderr) = process.child.stderr.take() else {
            return Err(CdpError::NoDevTools {
                why: "its stderr is not piped".into(),
                stderr: String::new(),
            });
        };
        let address = devtools_address(stderr);
        let url = match tokio::time::timeout(LAUNCH_TIMEOUT, address).await {
            Ok(Ok(Ok(url))) => url,
            Ok(Ok(Err(stderr))) => return Err(CdpError::NoDevTools { why: "it exited".into(), stderr }),
            Ok(Err(_)) => {
                return Err(CdpError::NoDevTools {
                    why: "its stderr reader ended".into(),
                    stderr: String::new(),
                });
            }
            Err(_) => {
                let why = format!("waited {LAUNCH_TIMEOUT:?}");
                return Err(CdpError::NoDevTools { why, stderr: String::new() });
            }
        };
        let connected =
            tokio::time::timeout(DEFAULT_TIMEOUT, tokio_tungstenite::connect_async(url.as_str())).await;
        let ws = match connected {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(source)) => return Err(CdpError::Connect { url, source: Box::new(source) }),
            Err(_) => {
                return Err(CdpError::Timeout {
                    method: format!("connecting to {url}"),
                    timeout: DEFAULT_TIMEOUT,
                });
            }
        };
        let (sink, stream) = ws.split();
        let conn = Arc::new(Connection {
            sink: tokio::sync::Mutex::new(sink),
            next_id: AtomicU64::new(1),
            shared: Arc::new(Shared::default()),
        });
        let reader = tokio::spawn(read_loop(stream, Arc::clone(&conn.shared)));
        Ok(Browser { conn, reader, profile_dir, process })
    }

    /// The browser's process id (for tests that check it is gone after a drop).
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// The temporary profile directory (`--user-data-dir`), removed when the browser is dropped.
    pub fn profile_dir(&self) -> &Path {
        &self.profile_dir
    }

    /// Opens a new tab on `about:blank`, attaches to it and sets its viewport to [`VIEWPORT`].
    pub async fn new_page(&self) -> Result<Page, CdpError> {
        let params = json!({"url": "about:blank"});
        let created = self.conn.call(None, "Target.createTarget", params, DEFAULT_TIMEOUT).await?;
        let target_id = string_field(&created, "targetId", "Target.createTarget")?;
        let params = json!({"targetId": target_id, "flatten": true});
        let attached = self.conn.call(None, "Target.attachToTarget", params, DEFAULT_TIMEOUT).await?;
        let session = string_field(&attached, "sessionId", "Target.attachToTarget")?;
        self.conn.shared.lock().console_errors.entry(session.clone()).or_default();
        let page = Page { conn: Arc::clone(&self.conn), session };
        page.call("Page.enable", json!({})).await?;
        page.call("Runtime.enable", json!({})).await?;
        // The window's own size leaves less than itself to the page; the viewport is fixed instead.
        let metrics =
            json!({"width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false});
        page.call("Emulation.setDeviceMetricsOverride", metrics).await?;
        Ok(page)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.reader.abort();
        // Pages outliving the browser fail at once with `Closed` rather than waiting for a reply.
        self.conn.shared.close();
    }
}

/// Whether this process runs as root (effective uid 0, from `/proc/self/status`).
fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// Reads Chromium's stderr on a thread of its own: the `ws://` address once it is printed (or, when Chromium
/// exits first, its last lines), then the rest so the browser never blocks on a full pipe. The thread ends
/// when Chromium closes its stderr.
fn devtools_address(stderr: std::process::ChildStderr) -> oneshot::Receiver<Result<String, String>> {
    const MARK: &str = "DevTools listening on ";
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut tail: Vec<String> = Vec::new();
        let mut reader = std::io::BufReader::new(stderr);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            line.clear();
            if tx.is_none() {
                continue;
            }
            if let Some(url) = text.find(MARK).map(|at| text[at + MARK.len()..].trim().to_string()) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Ok(url));
                }
                continue;
            }
            tail.push(text);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        if let Some(tx) = tx {
            let _ = tx.send(Err(tail.join("\n")));
        }
    });
    rx
}

/// A tab, attached through the browser's connection. Calls fail with [`CdpError::Closed`] once the browser is
/// dropped.
pub struct Page {
    conn: Arc<Connection>,
    session: String,
}

/// A key [`Page::press_key`] presses: enough to walk and operate every control by keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Key {
    /// Moves the focus to the next control.
    Tab,
    /// Activates a focused button or link; submits a form.
    Enter,
    /// Activates a focused button; toggles a check box.
    Space,
    /// Closes a dialog or menu.
    Escape,
}

impl Key {
    /// `key`, `code`, `windowsVirtualKeyCode` and the text the key types, as a US keyboard sends them.
    fn parts(self) -> (&'static str, &'static str, u32, Option<&'static str>) {
        match self {
            Key::Tab => ("Tab", "Tab", 9, None),
            Key::Enter => ("Enter", "Enter", 13, Some("\r")),
            Key::Space => (" ", "Space", 32, Some(" ")),
            Key::Escape => ("Escape", "Escape", 27, None),
        }
    }
}

impl Page {
    /// Loads `url` and waits for its load event (at most [`DEFAULT_TIMEOUT`]).
    pub async fn goto(&self, url: &str) -> Result<(), CdpError> {
        // Registered before navigating, so a load that comes quickly is not missed.
        let loaded = self.conn.wait_event(&self.session, "Page.loadEventFired");
        let reply = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = reply.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            return Err(CdpError::Navigate { url: url.to_string(), error: error.to_string() });
        }
        match tokio::time::timeout(DEFAULT_TIMEOUT, loaded).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => Err(CdpError::Navigate {
                url: url.to_string(),
                error: format!("no load event within {DEFAULT_TIMEOUT:?}"),
            }),
        }
    }

    /// Evaluates `js` in the page and returns its value (a promise is awaited; `undefined` is `null`). An
    /// exception or a rejected promise is [`CdpError::Js`].
    pub async fn eval(&self, js: &str) -> Result<Value, CdpError> {
        self.eval_within(js, DEFAULT_TIMEOUT).await
    }

    async fn eval_within(&self, js: &str, timeout: Duration) -> Result<Value, CdpError> {
        let params =
            json!({"expression": js, "returnByValue": true, "awaitPromise": true, "userGesture": true});
        let reply = self.conn.call(Some(&self.session), "Runtime.evaluate", params, timeout).await?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(CdpError::Js { message: exception_text(details) });
        }
        let result = reply.get("result").ok_or_else(|| CdpError::BadReply {
            method: "Runtime.evaluate".into(),
            detail: "no result".into(),
        })?;
        Ok(result.get("value").cloned().unwrap_or(Value::Null))
    }

    /// Waits until the JavaScript expression `condition` is truthy, at most `timeout`. The page checks it at once,
    /// on every DOM change and every 20 ms (for state the DOM does not show, such as the focus); an exception
    /// counts as "not yet". On time-out the error names the condition and its last exception.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> Result<(), CdpError> {
        // A page-side time-out beyond 2^31 - 1 ms would fire at once.
        let ms = timeout.as_millis().min(i32::MAX as u128);
        let js = format!(
            r#"new Promise((resolve) => {{
  let last = null;
  const holds = () => {{ try {{ return !!({condition}
  ); }} catch (e) {{ last = String(e); return false; }} }};
  if (holds()) {{ resolve({{ ok: true }}); return; }}
  const done = (ok) => {{ observer.disconnect(); clearInterval(tick); clearTimeout(limit); resolve({{ ok, last }}); }};
  const check = () => {{ if (holds()) done(true); }};
  const observer = new MutationObserver(check);
  observer.observe(document, {{ subtree: true, childList: true, attributes: true, characterData: true }});
  const tick = setInterval(check, 20);
  const limit = setTimeout(() => done(false), {ms});
}})"#
        );
        let timed_out =
            |last_error| CdpError::WaitTimeout { condition: condition.to_string(), timeout, last_error };
        // The page's own limit ends the wait; this one only guards against a page that never answers.
        let answer = match self.eval_within(&js, timeout.saturating_add(DEFAULT_TIMEOUT)).await {
            Ok(answer) => answer,
            Err(CdpError::Timeout { .. }) => return Err(timed_out(None)),
            Err(e) => return Err(e),
        };
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(timed_out(answer.get("last").and_then(Value::as_str).map(str::to_string)))
        }
    }

    /// Clicks the first element matching `selector` with the mouse: scrolls it into view, then presses and
    /// releases the left button at its centre. Fails when nothing matches, when it has no area, or when another
    /// element covers its centre.
    pub async fn click(&self, selector: &str) -> Result<(), CdpError> {
        let quoted = Value::from(selector).to_string();
        let js = format!(
            r#"(() => {{
  const el = document.querySelector({quoted});
  if (!el) return {{ found: false }};
  el.scrollIntoView({{ block: 'center', inline: 'center', behavior: 'instant' }});
  const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const top = r.width > 0 && r.height > 0 ? document.elementFromPoint(x, y) : null;
  const covered = top !== null && top !== el && !el.contains(top);
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + [...e.classList].map(c => '.' + c).join('');
  return {{ found: true, x, y, w: r.width, h: r.height, by: covered ? name(top) : null }};
}})()"#
        );
        let spot = self.eval(&js).await?;
        if spot.get("found").and_then(Value::as_bool) != Some(true) {
            return Err(CdpError::NoElement { selector: selector.to_string() });
        }
        let number = |k: &str| spot.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        if number("w") <= 0.0 || number("h") <= 0.0 {
            return Err(CdpError::NotVisible { selector: selector.to_string() });
        }
        if let Some(by) = spot.get("by").and_then(Value::as_str) {
            return Err(CdpError::Covered { selector: selector.to_string(), by: by.to_string() });
        }
        let (x, y) = (number("x"), number("y"));
        self.call("Input.dispatchMouseEvent", json!({"type": "mouseMoved", "x": x, "y": y})).await?;
        for (kind, buttons) in [("mousePressed", 1), ("mouseReleased", 0)] {
            let event =
                json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1});
            self.call("Input.dispatchMouseEvent", event).await?;
        }
        Ok(())
    }

    /// Types `text` into the focused element, as an input method would commit it.
    pub async fn type_text(&self, text: &str) -> Result<(), CdpError> {
        self.call("Input.insertText", json!({"text": text})).await.map(drop)
    }

    /// Presses and releases `key` on the focused element.
    pub async fn press_key(&self, key: Key) -> Result<(), CdpError> {
        let (name, code, vk, text) = key.parts();
        let mut down = json!({
            "type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": name, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk,
        });
        if let Some(text) = text {
            down["text"] = text.into();
            down["unmodifiedText"] = text.into();
        }
        self.call("Input.dispatchKeyEvent", down).await?;
        let up = json!({"type": "keyUp", "key": name, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk});
        self.call("Input.dispatchKeyEvent", up).await.map(drop)
    }

    /// Writes a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<(), CdpError> {
        let reply = self.call("Page.captureScreenshot", json!({"format": "png"})).await?;
        let data = string_field(&reply, "data", "Page.captureScreenshot")?;
        let failed = |detail: String| CdpError::Screenshot { path: path.to_path_buf(), detail };
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| failed(format!("the browser sent invalid base64: {e}")))?;
        tokio::fs::write(path, png).await.map_err(|e| failed(e.to_string()))
    }

    /// The console errors (`console.error`) and uncaught exceptions of this page since it was opened, oldest
    /// first. A round trip to the page first makes sure every error it reported so far has arrived.
    pub async fn console_errors(&self) -> Result<Vec<String>, CdpError> {
        self.eval("0").await?;
        Ok(self.conn.shared.lock().console_errors.get(&self.session).cloned().unwrap_or_default())
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.conn.call(Some(&self.session), method, params, DEFAULT_TIMEOUT).await
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One WebSocket to the browser: calls are written here, replies and events come through the reader task.
struct Connection {
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    next_id: AtomicU64,
    shared: Arc<Shared>,
}

/// A protocol error: its code and message.
type Reply = Result<Value, (i64, String)>;

/// What the reader task and the callers share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// Calls waiting for their reply, by id.
    pending: HashMap<u64, oneshot::Sender<Reply>>,
    /// One-shot waiters for an event of a session.
    waiters: Vec<(String, &'static str, oneshot::Sender<Value>)>,
    /// Console errors and uncaught exceptions, by session.
    console_errors: HashMap<String, Vec<String>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent maps; carry on with them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands one message from the browser to whoever waits for it.
    fn dispatch(&self, message: Value) {
        let mut state = self.lock();
        if let Some(id) = message.get("id").and_then(Value::as_u64) {
            if let Some(tx) = state.pending.remove(&id) {
                let reply = match message.get("error") {
                    Some(error) => Err((
                        error.get("code").and_then(Value::as_i64).unwrap_or(0),
                        error.get("message").and_then(Value::as_str).unwrap_or("no message").to_string(),
                    )),
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = tx.send(reply);
            }
            return;
        }
        let (Some(method), Some(session)) =
            (message.get("method").and_then(Value::as_str), message.get("sessionId").and_then(Value::as_str))
        else {
            return;
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let error = match method {
            "Runtime.consoleAPICalled" if params.get("type").and_then(Value::as_str) == Some("error") => {
                Some(console_text(&params))
            }
            "Runtime.exceptionThrown" => params.get("exceptionDetails").map(exception_text),
            _ => None,
        };
        if let Some(error) = error {
            state.console_errors.entry(session.to_string()).or_default().push(error);
        }
        // Waiters whose caller gave up are dropped here too.
        let waiters = std::mem::take(&mut state.waiters);
        for (s, m, tx) in waiters {
            if s == session && m == method {
                let _ = tx.send(params.clone());
            } else if !tx.is_closed() {
                state.waiters.push((s, m, tx));
            }
        }
    }

    /// The socket is gone: every caller and waiter learns it (their senders are dropped).
    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.pending.clear();
        state.waiters.clear();
    }
}

impl Connection {
    /// Sends `method` (to `session`, or to the browser) and waits at most `timeout` for its reply.
    async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(CdpError::Closed);
            }
            state.pending.insert(id, tx);
        }
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        let exchange = async {
            self.sink
                .lock()
                .await
                .send(Message::text(message.to_string()))
                .await
                .map_err(|_| CdpError::Closed)?;
            match rx.await {
                Ok(Ok(result)) => Ok(result),
                Ok(Err((code, message))) => {
                    Err(CdpError::Protocol { method: method.to_string(), code, message })
                }
                Err(_) => Err(CdpError::Closed),
            }
        };
        let outcome = tokio::time::timeout(timeout, exchange).await;
        self.shared.lock().pending.remove(&id);
        outcome.unwrap_or_else(|_| Err(CdpError::Timeout { method: method.to_string(), timeout }))
    }

    /// A receiver for the next `method` event of `session`; it errs when the connection closes.
    fn wait_event(&self, session: &str, method: &'static str) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        let mut state = self.shared.lock();
        if !state.closed {
            state.waiters.push((session.to_string(), method, tx));
        }
        rx
    }
}

/// Reads the browser's messages until the socket closes, then tells every waiting caller.
async fn read_loop(mut stream: SplitStream<Socket>, shared: Arc<Shared>) {
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => {
                if let Ok(value) = serde_json::from_str::<Value>(text.as_str()) {
                    shared.dispatch(value);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    shared.close();
}

fn string_field(reply: &Value, field: &str, method: &str) -> Result<String, CdpError> {
    reply.get(field).and_then(Value::as_str).map(str::to_string).ok_or_else(|| CdpError::BadReply {
        method: method.to_string(),
        detail: format!("no `{field}` in {reply}"),
    })
}

/// An exception as the page describes it: the thrown value's description (with the stack for an `Error`),
/// else the protocol's summary text.
fn exception_text(details: &Value) -> String {
    let exception = details.get("exception");
    let described = exception
        .and_then(|e| e.get("description").and_then(Value::as_str).map(str::to_string))
        .or_else(|| exception.and_then(|e| e.get("value")).map(|v| v.to_string()));
    let text = details.get("text").and_then(Value::as_str).unwrap_or("an exception");
    match described {
        Some(d) => format!("{text} {d}").trim().to_string(),
        None => text.to_string(),
    }
}

/// The arguments of a `console.error` call joined by spaces, as the console shows them.
fn console_text(params: &Value) -> String {
    let args = params.get("args").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    args.iter()
        .map(|arg| match arg.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => arg.get("description").and_then(Value::as_str).unwrap_or("?").to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_reads_as_the_page_describes_it() {
        let thrown =
            json!({"text": "Uncaught", "exception": {"description": "Error: boom\n    at <anonymous>:1:7"}});
        assert_eq!(exception_text(&thrown), "Uncaught Error: boom\n    at <anonymous>:1:7");
        let value = json!({"text": "Uncaught", "exception": {"type": "number", "value": 42}});
        assert_eq!(exception_text(&value), "Uncaught 42");
        assert_eq!(exception_text(&json!({"text": "Uncaught SyntaxError"})), "Uncaught SyntaxError");
    }

    #[test]
    fn console_arguments_are_joined_as_the_console_shows_them() {
        let params = json!({"type": "error", "args": [
            {"type": "string", "value": "total"}, {"type": "number", "value": 3},
            {"type": "object", "description": "HTMLDivElement"}]});
        assert_eq!(console_text(&params), "total 3 HTMLDivElement");
    }

    #[test]
    fn replies_go_to_their_caller_and_events_to_their_waiter() {
        let shared = Shared::default();
        let (tx, mut rx) = oneshot::channel();
        let (event_tx, mut event_rx) = oneshot::channel();
        {
            let mut state = shared.lock();
            state.pending.insert(7, tx);
            state.waiters.push(("S".into(), "Page.loadEventFired", event_tx));
        }
        shared.dispatch(json!({"method": "Page.loadEventFired", "sessionId": "other", "params": {}}));
        assert!(event_rx.try_recv().is_err(), "another session's event is not ours");
        shared.dispatch(
            json!({"method": "Page.loadEventFired", "sessionId": "S", "params": {"timestamp": 1.5}}),
        );
        assert_eq!(event_rx.try_recv().ok(), Some(json!({"timestamp": 1.5})));
        shared.dispatch(json!({"id": 8, "result": {}}));
        assert!(rx.try_recv().is_err(), "a reply to another id is not ours");
        shared.dispatch(json!({"id": 7, "error": {"code": -32000, "message": "No node"}}));
        assert_eq!(rx.try_recv().ok(), Some(Err((-32000, "No node".to_string()))));
        shared.dispatch(json!({"method": "Runtime.exceptionThrown", "sessionId": "S",
            "params": {"exceptionDetails": {"text": "Uncaught", "exception": {"description": "Error: x"}}}}));
        assert_eq!(shared.lock().console_errors["S"], vec!["Uncaught Error: x".to_string()]);
    }

    #[test]
    fn a_closed_connection_fails_every_waiter() {
        let shared = Shared::default();
        let (tx, mut rx) = oneshot::channel::<Reply>();
        shared.lock().pending.insert(1, tx);
        shared.close();
        assert!(matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed)));
        assert!(shared.lock().closed);
    }
}
