//! The local-kick HTTP layer on loopback, with a scripted decision instead of the terminal core: status codes,
//! CORS (preflight, Private Network Access, the old-firmware profile), limits and time-outs.

use std::net::SocketAddr;
use std::time::Duration;

use ccv_terminal_io::kick::{
    CorsProfile, KickAnswer, KickCall, KickHttpSettings, KickListener, KickRequestBody,
};
use ccv_terminal_io::kick_client::{KickClientError, send_kick, send_raw};
use ccv_test_support::http::{HeaderFlood, send_header_flood};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(10);

/// Starts a listener whose "terminal" accepts kicks without a reference and refuses the others as busy.
async fn start(settings: KickHttpSettings) -> (SocketAddr, CancellationToken) {
    let (addr, token, _serving) = start_serving(settings).await;
    (addr, token)
}

/// [`start`], with the listener's task, which ends when the listener has stopped.
async fn start_serving(settings: KickHttpSettings) -> (SocketAddr, CancellationToken, JoinHandle<()>) {
    let listener = KickListener::bind("127.0.0.1:0".parse().unwrap(), settings).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel::<Box<KickCall>>(8);
    let token = CancellationToken::new();
    let serving = tokio::spawn(listener.serve(tx, token.clone()));
    tokio::spawn(async move {
        while let Some(call) = rx.recv().await {
            let answer = match call.body.reference {
                Some(r) if r == "busy" => KickAnswer::Refused {
                    tms_id: "12345678".into(),
                    reason: ccv_wire::KickRefusal::Busy,
                    message: "the terminal is busy".into(),
                },
                reference => KickAnswer::Accepted {
                    tms_id: "12345678".into(),
                    reference,
                    tas: call
                        .body
                        .tas
                        .map_or("TAS.JFORCE.BE:5555".into(), |t| format!("{}:{}", t.host, t.port)),
                },
            };
            let _ = call.reply.send(answer);
        }
    });
    (addr, token, serving)
}

/// Sends raw bytes and reads the whole answer (the server closes after one request).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("answer in time").unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of header `name` in a lower-cased raw answer.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        (n.trim() == name).then_some(v.trim())
    })
}

/// The comma-separated list in header `name` of a lower-cased raw answer.
fn list(answer: &str, name: &str) -> Vec<String> {
    header(answer, name).unwrap_or_default().split(',').map(|v| v.trim().to_owned()).collect()
}

/// The JSON body of a raw answer.
fn json_body(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn accepted_and_refused_kicks() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let ok = send_kick(addr, &KickRequestBody { reference: Some("r1".into()), tas: None }, T).await.unwrap();
    assert_eq!(ok.status, 202);
    assert_eq!(ok.body["status"], "accepted");
    assert_eq!(ok.body["reference"], "r1");
    assert_eq!(ok.body["tas"], "TAS.JFORCE.BE:5555");
    let busy =
        send_kick(addr, &KickRequestBody { reference: Some("busy".into()), tas: None }, T).await.unwrap();
    assert_eq!(busy.status, 409);
    assert_eq!(busy.body["status"], "refused");
    assert_eq!(busy.body["reason"], "busy");
    // An empty body is a kick without fields.
    let empty = send_raw(addr, "POST", "/kick", Vec::new(), T).await.unwrap();
    assert_eq!(empty.status, 202);
    assert!(empty.body.get("reference").is_none());
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let r = send_raw(addr, "POST", "/kick", b"{not json".to_vec(), T).await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "malformed_json");
    assert!(r.body["message"].as_str().unwrap().contains("expected"));
    let r = send_raw(addr, "POST", "/kick", br#"{"referense":"x"}"#.to_vec(), T).await.unwrap();
    assert_eq!(r.status, 400, "unknown fields are refused");
    let r = send_raw(addr, "POST", "/kick", br#"{"tas":{"host":"","port":5555}}"#.to_vec(), T).await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "bad_tas");
    let r = send_raw(addr, "GET", "/kick", Vec::new(), T).await.unwrap();
    assert_eq!(r.status, 405);
    let r = send_raw(addr, "POST", "/elsewhere", Vec::new(), T).await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found");
    let big = vec![b' '; 5000];
    let r = send_raw(addr, "POST", "/kick", big, T).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.body["error"], "body_too_large");
    // Chunked, so no Content-Length to check up front: the limit applies while reading.
    let chunk = "a".repeat(3000);
    let req = format!(
        "POST /kick HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    let answer = raw(addr, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(json_body(&answer)["error"], "body_too_large", "the same JSON error as on Content-Length");
}

/// One 1 MiB header, or 10,000 small ones: hyper refuses the head at its buffer (16 KiB here) or at 100 headers
/// (431, then the connection is closed) without reading the rest, and the next kick is served.
#[tokio::test]
async fn oversize_headers_get_431_or_a_close_and_the_next_kick_is_served() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    for flood in HeaderFlood::BOTH {
        let answer = send_header_flood(addr, "/kick", flood, T).await.unwrap();
        assert!(answer.is_refusal(), "{flood:?}: {answer:?}");
        let ok =
            send_kick(addr, &KickRequestBody { reference: Some("r".into()), tas: None }, T).await.unwrap();
        assert_eq!(ok.status, 202, "served after {flood:?}");
    }
}

#[tokio::test]
async fn slow_clients_are_timed_out() {
    let settings = KickHttpSettings {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..KickHttpSettings::default()
    };
    let (addr, _t) = start(settings).await;
    // Headers never finish: the connection is closed without an answer.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /kick HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut out = Vec::new();
    let n = tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("closed in time");
    assert!(
        n.is_err() || out.is_empty() || String::from_utf8_lossy(&out).contains("408"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // The body never arrives: 408.
    let answer = raw(addr, b"POST /kick HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"ref").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"));
}

#[tokio::test]
async fn cors_preflight_and_private_network_access() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let answer = raw(
        addr,
        b"OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nAccess-Control-Request-Method: POST\r\n\
Access-Control-Request-Headers: content-type\r\nAccess-Control-Request-Private-Network: true\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 204"), "{answer}");
    assert!(answer.contains("access-control-allow-origin: https://pay.example"), "{answer}");
    assert_eq!(list(&answer, "access-control-allow-methods"), ["post", "options"], "{answer}");
    assert!(answer.contains("access-control-allow-headers: content-type"), "{answer}");
    assert!(answer.contains("access-control-allow-private-network: true"), "{answer}");
    // The actual POST from a page carries the origin back too.
    let answer = raw(
        addr,
        b"POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 202"), "{answer}");
    assert!(answer.contains("access-control-allow-origin: https://pay.example"));
    assert!(!answer.contains("private-network"), "only echoed when asked");
}

/// A listener whose "terminal" records what reaches it; the receiver is returned unread.
async fn start_recording(settings: KickHttpSettings) -> (SocketAddr, mpsc::Receiver<Box<KickCall>>) {
    let listener = KickListener::bind("127.0.0.1:0".parse().unwrap(), settings).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<Box<KickCall>>(8);
    tokio::spawn(listener.serve(tx, CancellationToken::new()));
    (addr, rx)
}

#[tokio::test]
async fn a_page_cannot_send_the_terminal_to_another_tas() {
    // The attack: a page on any origin (here `null`, a sandboxed frame) preflights, then kicks with a rogue TAS.
    let (addr, mut calls) = start_recording(KickHttpSettings::default()).await;
    let pre = raw(
        addr,
        b"OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: null\r\nAccess-Control-Request-Method: POST\r\n\
Access-Control-Request-Headers: content-type\r\nAccess-Control-Request-Private-Network: true\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(pre.starts_with("http/1.1 403"), "{pre}");
    assert!(!pre.contains("access-control-allow"), "no CORS nor PNA allowance for `null`: {pre}");
    assert_eq!(json_body(&pre)["error"], "origin_not_allowed");
    let rogue = br#"{"reference":"r","tas":{"host":"rogue.example","port":5555}}"#;
    let req = format!(
        "POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nContent-Type: application/json\r\n\
Content-Length: {}\r\n\r\n{}",
        rogue.len(),
        String::from_utf8_lossy(rogue)
    );
    let answer = raw(addr, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["error"], "tas_override_not_allowed");
    assert!(body["message"].as_str().unwrap().contains("allow_tas_override"), "names the setting: {body}");
    assert_eq!(
        header(&answer.to_ascii_lowercase(), "access-control-allow-origin"),
        Some("https://pay.example"),
        "an allowed page can read why"
    );
    // Without a browser too: the override is refused whoever sends it.
    let r =
        send_kick(addr, &KickRequestBody { reference: None, tas: Some(ccv_wire::HostPort::new("h", 1)) }, T)
            .await
            .unwrap();
    assert_eq!(r.status, 403);
    assert!(calls.try_recv().is_err(), "nothing reached the terminal");

    // A test set-up that turns the override on gets it.
    let settings = KickHttpSettings { allow_tas_override: true, ..KickHttpSettings::default() };
    let (addr, _t) = start(settings).await;
    let tas = Some(ccv_wire::HostPort::new("127.0.0.1", 15555));
    let ok = send_kick(addr, &KickRequestBody { reference: None, tas }, T).await.unwrap();
    assert_eq!(ok.status, 202, "{}", ok.body);
    assert_eq!(ok.body["tas"], "127.0.0.1:15555");
}

#[tokio::test]
async fn only_the_configured_origins_get_cors() {
    let settings = KickHttpSettings {
        allowed_origins: vec!["https://pay.example/".into()],
        ..KickHttpSettings::default()
    };
    let (addr, mut calls) = start_recording(settings).await;
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
Access-Control-Request-Private-Network: true\r\n\r\n"
        )
    };
    let evil = raw(addr, preflight("https://evil.example").as_bytes()).await.to_ascii_lowercase();
    assert!(evil.starts_with("http/1.1 403"), "{evil}");
    assert!(!evil.contains("access-control-allow"), "{evil}");
    // A simple request (no preflight, as a form post) from that origin does not reach the terminal either.
    let post = raw(addr, b"POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")
        .await;
    assert!(post.starts_with("HTTP/1.1 403"), "{post}");
    assert!(calls.try_recv().is_err(), "nothing reached the terminal");
    let good = raw(addr, preflight("https://pay.example").as_bytes()).await.to_ascii_lowercase();
    assert!(good.starts_with("http/1.1 204"), "{good}");
    assert_eq!(header(&good, "access-control-allow-origin"), Some("https://pay.example"), "{good}");
    assert_eq!(header(&good, "access-control-allow-private-network"), Some("true"), "{good}");
    // Clients that are no browser send no Origin and are not concerned.
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Some(call) = calls.recv().await {
            let _ = call.reply.send(KickAnswer::Accepted {
                tms_id: "12345678".into(),
                reference: None,
                tas: "TAS.JFORCE.BE:5555".into(),
            });
        }
        let _ = tx.send(());
    });
    assert_eq!(send_kick(addr, &KickRequestBody::default(), T).await.unwrap().status, 202);
    rx.await.unwrap();
}

#[tokio::test]
async fn old_firmware_sends_no_cors_headers() {
    let settings = KickHttpSettings { cors: CorsProfile::OldFirmwareNoCors, ..KickHttpSettings::default() };
    let (addr, _t) = start(settings).await;
    let pre = raw(
        addr,
        b"OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nAccess-Control-Request-Method: POST\r\n\
Access-Control-Request-Private-Network: true\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(pre.starts_with("http/1.1 405"), "{pre}");
    assert!(!pre.contains("access-control"), "{pre}");
    let post = raw(
        addr,
        b"POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(post.starts_with("http/1.1 202"), "the kick itself works without a browser: {post}");
    assert!(!post.contains("access-control"), "{post}");
}

#[tokio::test]
async fn nothing_listens_after_shutdown() {
    let (addr, token, serving) = start_serving(KickHttpSettings::default()).await;
    token.cancel();
    tokio::time::timeout(T, serving).await.expect("the listener stops").expect("its task ends cleanly");
    let err = send_kick(addr, &KickRequestBody::default(), T).await.unwrap_err();
    assert!(matches!(err, KickClientError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn too_large_bodies_get_the_json_error_with_cors() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    // Refused on Content-Length alone, before a byte of the body is read; the browser can read why.
    let answer = raw(
        addr,
        b"POST /kick HTTP/1.1\r\nHost: x\r\nOrigin: https://pay.example\r\nContent-Length: 5000\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert_eq!(header(&lower, "content-type"), Some("application/json"), "{answer}");
    assert_eq!(header(&lower, "access-control-allow-origin"), Some("https://pay.example"), "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "body_too_large");
    assert!(body["message"].as_str().unwrap().contains("4096"), "{body}");
    // Exactly at the limit is still read (and then refused as JSON, not as too large).
    let at_limit = vec![b'x'; 4096];
    let r = send_raw(addr, "POST", "/kick", at_limit, T).await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "malformed_json");
}

#[tokio::test]
async fn a_stalled_chunked_body_gets_408() {
    let settings =
        KickHttpSettings { body_timeout: Duration::from_millis(300), ..KickHttpSettings::default() };
    let (addr, _t) = start(settings).await;
    // One chunk arrives, the next never does.
    let answer =
        raw(addr, b"POST /kick HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ref\r\n")
            .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "body_timeout");
}

#[tokio::test]
async fn preflight_answers_private_network_only_when_asked() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let answer = raw(
        addr,
        b"OPTIONS /kick HTTP/1.1\r\nHost: x\r\nOrigin: http://pos.local\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    )
    .await
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 204"), "{answer}");
    assert_eq!(header(&answer, "access-control-allow-origin"), Some("http://pos.local"), "{answer}");
    assert_eq!(header(&answer, "access-control-max-age"), Some("600"), "{answer}");
    assert!(list(&answer, "vary").contains(&"origin".to_owned()), "{answer}");
    assert!(!answer.contains("private-network"), "{answer}");
    // Errors carry CORS too, so that a page can read them.
    let answer = raw(addr, b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nOrigin: http://pos.local\r\n\r\n")
        .await
        .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 404"), "{answer}");
    assert_eq!(header(&answer, "access-control-allow-origin"), Some("http://pos.local"), "{answer}");
    let answer = raw(addr, b"GET /kick HTTP/1.1\r\nHost: x\r\n\r\n").await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 405"), "{answer}");
    assert_eq!(header(&answer, "allow"), Some("post, options"), "{answer}");
    assert_eq!(json_body(&answer)["error"], "method_not_allowed");
}

/// A peer that accepts connections and never answers.
async fn silent_peer() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

#[tokio::test]
async fn the_client_gives_up_in_time() {
    let addr = silent_peer().await;
    let timeout = Duration::from_millis(300);
    let err = send_kick(addr, &KickRequestBody::default(), timeout).await.unwrap_err();
    assert!(matches!(err, KickClientError::Timeout { timeout: t, .. } if t == timeout), "{err}");
}

#[tokio::test]
async fn the_client_reads_at_most_64_kib() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let body = vec![b'x'; 100 * 1024];
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&body).await;
    });
    let err = send_kick(addr, &KickRequestBody::default(), T).await.unwrap_err();
    assert!(matches!(err, KickClientError::Http { .. }), "{err}");
}

#[tokio::test]
async fn a_content_length_that_is_no_number_is_refused() {
    let (addr, _t) = start(KickHttpSettings::default()).await;
    let answer = raw(addr, b"POST /kick HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_from_one_address_cost_only_themselves() {
    let header_timeout = Duration::from_secs(3);
    let settings = KickHttpSettings { header_timeout, ..KickHttpSettings::default() };
    let per_peer = settings.max_connections_per_peer;
    let (addr, _t) = start(settings).await;
    // Slowloris: more slow clients than the listener serves at once, all from 127.0.0.1, each sending half a
    // request line and stalling. A write may already meet a closed connection; that is what is tested below.
    let slow_count = 150;
    let attacked = std::time::Instant::now();
    let mut slow = Vec::with_capacity(slow_count);
    for _ in 0..slow_count {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"POST /ki").await;
        slow.push(s);
    }

    // A real kick from another address (Linux routes all of 127/8 to the loopback interface) is served at once,
    // long before the slow clients' header time-out frees anything.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut real = tokio::time::timeout(T, socket.connect(addr)).await.expect("connected in time").unwrap();
    real.write_all(b"POST /kick HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(T, real.read_to_end(&mut answer)).await.expect("answered").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(
        attacked.elapsed() < header_timeout,
        "the kick waited {:?} behind slow clients",
        attacked.elapsed()
    );

    // The slow clients beyond the per-address limit were closed as soon as they were accepted, the others at
    // their header time-out; none got an answer that could be taken for a served request.
    let mut closed = Vec::with_capacity(slow_count);
    for s in slow.iter_mut().skip(per_peer) {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("closed");
        closed.push(out);
    }
    assert!(
        attacked.elapsed() < header_timeout,
        "the excess was not closed at once: {:?}",
        attacked.elapsed()
    );
    for s in slow.iter_mut().take(per_peer) {
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("closed after the header time-out");
        closed.push(out);
    }
    assert!(attacked.elapsed() >= header_timeout, "the first ones were served until their header time-out");
    for out in closed {
        let text = String::from_utf8_lossy(&out);
        assert!(out.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
}
