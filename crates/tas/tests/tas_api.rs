//! The mock TAS against a scripted fake terminal on loopback: hand-shake, registry, conversations through the
//! HTTP API, device requests, printer failure, unknown outcome on disconnect, bad frames, transcript masking.

use std::time::Duration;

use bytes::Bytes;
use ccv_opi::{
    Amount, Authorisation, CardServiceResponse, Currency, DeviceRequest, DeviceRequestType, Header, Message,
    OutDevice, Output, OverallResult, ServiceResponse, Tender, Terminal, TextLine, WireEnum,
};
use ccv_tas::client::{Method, StatusCode, call_json};
use ccv_tas::{Tas, TasConfig};
use ccv_test_support::http::{FloodAnswer, HeaderFlood, send_header_flood};
use ccv_wire::handshake;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

const T: Duration = Duration::from_secs(10);

type Conn = Framed<TcpStream, LengthDelimitedCodec>;

async fn start() -> (Tas, String) {
    start_with(TasConfig::default()).await
}

async fn start_with(config: TasConfig) -> (Tas, String) {
    let tas = Tas::start("127.0.0.1:0".parse().unwrap(), Some("127.0.0.1:0".parse().unwrap()), config)
        .await
        .unwrap();
    let api = format!("http://{}", tas.api_addr().unwrap());
    (tas, api)
}

fn enc(m: &Message) -> Bytes {
    Bytes::from(ccv_opi::encode(m, ccv_opi::Encoding::Utf8))
}

async fn connect(tas: &Tas, tms_id: &str) -> Conn {
    let stream = TcpStream::connect(tas.terminal_addr()).await.unwrap();
    handshake(tas, stream, tms_id).await
}

/// A TCP connection to the TAS from source address `ip` (Linux routes all of 127/8 to the loopback device).
async fn dial_from(tas: &Tas, ip: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((std::net::Ipv4Addr::from(ip), 0).into()).unwrap();
    socket.connect(tas.terminal_addr()).await.unwrap()
}

/// Whether the TAS closes `stream` (end of stream or a reset) within `T`, without sending anything.
async fn closed_by_the_tas(stream: &mut TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1];
    matches!(timeout(T, stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

async fn handshake(tas: &Tas, stream: TcpStream, tms_id: &str) -> Conn {
    let mut conn = Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    conn.send(enc(&handshake::hello_message(tms_id, Some("ref-1"), Some("14.0.11.01")))).await.unwrap();
    let answer = recv(&mut conn).await;
    match answer {
        Message::ServiceResponse(r) => assert_eq!(r.overall_result, OverallResult::Success),
        other => panic!("unexpected hand-shake answer {other:?}"),
    }
    tas.wait_connected(tms_id, T).await.unwrap();
    conn
}

async fn recv(conn: &mut Conn) -> Message {
    let frame = timeout(T, conn.next()).await.expect("frame in time").expect("open").expect("frame");
    ccv_opi::decode(&frame).expect("decodable")
}

fn header(h: &Header) -> Header {
    h.clone()
}

/// Plays a terminal for one card payment: display, receipt, then the response.
async fn serve_payment(conn: &mut Conn, pan: &str) -> (Header, OverallResult) {
    let req = match recv(conn).await {
        Message::CardServiceRequest(r) => r,
        other => panic!("expected a CardServiceRequest, got {other:?}"),
    };
    let amount = req.total_amount.expect("amount");
    let mk = |id: &str, target, text: &str| {
        Message::DeviceRequest(DeviceRequest {
            header: Header {
                workstation_id: req.header.workstation_id.clone(),
                request_id: id.into(),
                ..Header::default()
            },
            request_type: DeviceRequestType::Output,
            outputs: vec![Output { out_device_target: target, text_lines: vec![TextLine::new(text)] }],
            input: None,
            private_data: None,
        })
    };
    conn.send(enc(&mk("d1", OutDevice::CashierDisplay, "PIN INVOEREN"))).await.unwrap();
    let d1 = recv(conn).await;
    assert!(matches!(d1, Message::DeviceResponse(ref r) if r.overall_result == OverallResult::Success));
    conn.send(enc(&mk("d2", OutDevice::Printer, &format!("BETAALD {amount}\nKAART {pan}")))).await.unwrap();
    let printed = match recv(conn).await {
        Message::DeviceResponse(r) => r.overall_result,
        other => panic!("expected a DeviceResponse, got {other:?}"),
    };
    let resp = Message::CardServiceResponse(CardServiceResponse {
        header: header(&req.header),
        request_type: req.request_type,
        overall_result: OverallResult::Success,
        terminal: Some(Terminal {
            terminal_id: "T1".into(),
            terminal_batch: None,
            stan: Some("000042".into()),
        }),
        tender: Some(Tender {
            total_amount: Some(amount),
            authorisation: Some(Authorisation {
                approval_code: Some("A1B2C3".into()),
                ..Authorisation::default()
            }),
        }),
        card_value: None,
        private_data: None,
    });
    conn.send(enc(&resp)).await.unwrap();
    (req.header, printed)
}

async fn post(api: &str, path: &str, body: Value) -> (StatusCode, Value) {
    call_json(api, Method::POST, path, Some(&body), T).await.unwrap()
}

#[tokio::test]
async fn payment_through_the_api_collects_receipts_and_masks_the_transcript() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "12345678").await;
    let (_, list) = call_json(&api, Method::GET, "/terminals", None, T).await.unwrap();
    assert_eq!(list[0]["tmsId"], "12345678");
    assert_eq!(list[0]["reference"], "ref-1");
    assert_eq!(list[0]["busy"], false);

    let api2 = api.clone();
    let call =
        tokio::spawn(
            async move { post(&api2, "/terminals/12345678/payments", json!({"amount": "12.34"})).await },
        );
    let (_, printed) = serve_payment(&mut term, "4111111111111111").await;
    assert_eq!(printed, OverallResult::Success);
    let (status, result) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["outcome"], "completed");
    assert_eq!(result["overallResult"], "Success");
    assert_eq!(result["amount"], "12.34");
    assert_eq!(result["authorisation"]["approvalCode"], "A1B2C3");
    assert_eq!(result["authorisation"]["stan"], "000042");
    assert_eq!(result["displayTexts"][0]["text"], "PIN INVOEREN");
    let receipt = result["receipts"][0]["text"].as_str().unwrap();
    assert!(receipt.contains("BETAALD 12.34 EUR"), "{receipt}");
    assert!(receipt.contains("411111******1111"), "the PAN is masked in results too: {receipt}");

    let (s, over_http) = call_json(&api, Method::GET, "/transcript?tmsId=12345678", None, T).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(over_http["entries"].as_array().is_some_and(|a| a.len() >= 8), "{over_http}");
    let transcript = tas.transcript(Some("12345678"), 0);
    assert!(transcript.iter().all(|e| !e.xml.contains("4111111111111111")));
    assert!(transcript.iter().any(|e| e.xml.contains("411111******1111")));
    let frames = transcript.iter().filter(|e| e.dir != ccv_tas::Direction::Event).count();
    assert_eq!(frames, 2 + 6, "hand-shake pair + request, 2 device pairs, response");
    tas.shutdown().await;
}

/// On plain TCP a second hand-shake naming a connected terminal cannot tell the TAS which is the terminal: it
/// is refused (`ValidationError`, closed), the first connection keeps its place and gets the next payment.
#[tokio::test]
async fn a_second_hand_shake_for_a_connected_terminal_does_not_take_its_place_on_plain_tcp() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "12345678").await;
    let peer = tas.terminals()[0].peer.clone();

    let stream = TcpStream::connect(tas.terminal_addr()).await.unwrap();
    let mut impostor =
        Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    impostor.send(enc(&handshake::hello_message("12345678", None, None))).await.unwrap();
    match recv(&mut impostor).await {
        Message::ServiceResponse(r) => assert_eq!(r.overall_result, OverallResult::ValidationError),
        other => panic!("unexpected hand-shake answer {other:?}"),
    }
    assert!(closed_by_the_tas(impostor.get_mut()).await, "the second connection is closed");
    let listed = tas.terminals();
    assert_eq!((listed.len(), listed[0].peer.as_str(), listed[0].certified), (1, peer.as_str(), false));
    let why =
        tas.transcript(None, 0).into_iter().filter_map(|e| e.note).find(|n| n.contains("already connected"));
    assert!(why.is_some_and(|n| n.contains("cannot tell which connection is the terminal")));

    let api2 = api.clone();
    let call =
        tokio::spawn(async move { post(&api2, "/terminals/12345678/payments", json!({"amount": 1})).await });
    serve_payment(&mut term, "0000").await;
    let (status, result) = call.await.unwrap();
    assert_eq!((status, result["overallResult"].as_str()), (StatusCode::OK, Some("Success")), "{result}");
    tas.shutdown().await;
}

#[tokio::test]
async fn a_failed_printer_is_reported_and_numbers_are_accepted_as_amounts() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "22222222").await;
    let (s, _) = call_json(&api, Method::PUT, "/terminals/22222222/printer", Some(&json!({"fail": true})), T)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    let api2 = api.clone();
    let call =
        tokio::spawn(
            async move { post(&api2, "/terminals/22222222/payments", json!({"amount": 7.5})).await },
        );
    let (_, printed) = serve_payment(&mut term, "0000").await;
    assert_eq!(printed, OverallResult::DeviceUnavailable);
    let (_, result) = call.await.unwrap();
    assert_eq!(result["amount"], "7.50");
    assert_eq!(result["receipts"][0]["printed"], false);
    tas.shutdown().await;
}

#[tokio::test]
async fn disconnect_mid_payment_gives_an_unknown_outcome_and_unregisters() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "33333333").await;
    let api2 = api.clone();
    let call =
        tokio::spawn(
            async move { post(&api2, "/terminals/33333333/payments", json!({"amount": "1.00"})).await },
        );
    let _ = recv(&mut term).await;
    // Busy while the payment runs: a second one is refused.
    let (s, body) = post(&api, "/terminals/33333333/payments", json!({"amount": "1.00"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(tas.terminals()[0].busy);
    drop(term);
    let (status, result) = timeout(T, call).await.expect("the result in time").unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["outcome"], "unknown");
    assert_eq!(result["reason"], "terminal_disconnected");
    assert!(result.get("overallResult").is_none());
    // The TAS takes a closed connection's terminal off the list before it answers the callers still waiting.
    assert!(tas.terminals().is_empty());
    tas.shutdown().await;
}

#[tokio::test]
async fn a_silent_terminal_times_out_with_unknown_outcome() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "44444444").await;
    let api2 = api.clone();
    let call = tokio::spawn(async move {
        post(&api2, "/terminals/44444444/payments", json!({"amount": "1.00", "timeoutSecs": 1})).await
    });
    let _ = recv(&mut term).await;
    let (_, result) = call.await.unwrap();
    assert_eq!(result["outcome"], "unknown");
    assert_eq!(result["reason"], "timed_out");
    tas.shutdown().await;
}

/// A payment the terminal never answers times out with an unknown outcome; the terminal may still be in it, so
/// the TAS sends it an abort and refuses the next payments (409, saying why) until the terminal answers the abort.
#[tokio::test]
async fn a_timed_out_payment_is_aborted_and_the_terminal_stays_busy_until_it_answers() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "88888888").await;
    let api2 = api.clone();
    let call = tokio::spawn(async move {
        post(&api2, "/terminals/88888888/payments", json!({"amount": "1.00", "timeoutSecs": 1})).await
    });
    let Message::CardServiceRequest(req) = recv(&mut term).await else {
        panic!("expected the payment request")
    };
    // Not answered: the next frame is the TAS's abort, once the payment's time is up.
    let abort = match recv(&mut term).await {
        Message::ServiceRequest(r) => r,
        other => panic!("expected the abort, got {other:?}"),
    };
    assert_eq!(abort.request_type, ccv_opi::ServiceRequestType::AbortRequest);
    assert_ne!(abort.header.request_id, req.header.request_id);
    let (status, result) = timeout(T, call).await.expect("the result in time").unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!((result["outcome"].as_str(), result["reason"].as_str()), (Some("unknown"), Some("timed_out")));

    // Meanwhile the terminal is busy: a payment is refused, and says why.
    assert!(tas.terminals()[0].busy);
    let (s, body) = post(&api, "/terminals/88888888/payments", json!({"amount": "2.00"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "terminal_busy");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("timed out") && message.contains("abort"), "{message}");

    // The terminal answers the abort: the TAS frees it, and the next payment goes through.
    let mut transcript = tas.transcript_updates();
    term.send(enc(&service_response(&abort.header, abort.request_type, OverallResult::Aborted)))
        .await
        .unwrap();
    for _ in 0..100 {
        let entry = timeout(T, transcript.recv()).await.expect("the TAS records the answer").unwrap();
        if entry.note.is_some_and(|n| n.contains("free again")) {
            break;
        }
    }
    assert!(!tas.terminals()[0].busy);
    let api2 = api.clone();
    let call =
        tokio::spawn(
            async move { post(&api2, "/terminals/88888888/payments", json!({"amount": "2.00"})).await },
        );
    serve_payment(&mut term, "0000").await;
    let (status, result) = timeout(T, call).await.expect("the result in time").unwrap();
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["overallResult"], "Success");
    tas.shutdown().await;
}

/// Idle connections cannot keep terminals out: one address gets at most `max_per_peer` connections (more are
/// closed at once), connections that never hand-shake share a smaller budget whose oldest gives way to a
/// newcomer, so a real terminal from another address still connects and pays.
#[tokio::test]
async fn idle_connections_from_one_address_and_silent_sockets_do_not_keep_a_terminal_out() {
    let config = TasConfig {
        max_per_peer: 4,
        max_unidentified: 8,
        handshake_timeout: Duration::from_secs(600),
        ..TasConfig::default()
    };
    let (tas, api) = start_with(config).await;
    // 127.0.0.1 holds its share with identified, idle connections; the next one is closed at once.
    let mut idle = Vec::new();
    for i in 0..4 {
        let stream = dial_from(&tas, [127, 0, 0, 1]).await;
        idle.push(handshake(&tas, stream, &format!("1000000{i}")).await);
    }
    let mut refused = dial_from(&tas, [127, 0, 0, 1]).await;
    assert!(closed_by_the_tas(&mut refused).await, "a fifth connection from 127.0.0.1 is refused");

    // Silent sockets from eight more addresses fill the budget of unidentified connections; a ninth
    // newcomer closes the oldest of them.
    let mut silent = Vec::new();
    for last in 3..=10 {
        silent.push(dial_from(&tas, [127, 0, 0, last]).await);
    }
    let _ninth = dial_from(&tas, [127, 0, 0, 11]).await;
    assert!(closed_by_the_tas(&mut silent[0]).await, "the oldest silent socket gives way");

    // A real terminal from 127.0.0.2 connects, identifies itself and pays.
    let stream = dial_from(&tas, [127, 0, 0, 2]).await;
    let mut term = handshake(&tas, stream, "12345678").await;
    assert!(closed_by_the_tas(&mut silent[1]).await, "the next oldest silent socket made room");
    let api2 = api.clone();
    let call =
        tokio::spawn(
            async move { post(&api2, "/terminals/12345678/payments", json!({"amount": "4.00"})).await },
        );
    serve_payment(&mut term, "0000").await;
    let (status, result) = timeout(T, call).await.expect("the result in time").unwrap();
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["overallResult"], "Success");
    assert_eq!(tas.terminals().len(), 5, "the idle terminals of 127.0.0.1 are still listed");
    let notes: Vec<String> = tas.transcript(None, 0).into_iter().filter_map(|e| e.note).collect();
    assert!(notes.iter().any(|n| n.contains("room was needed by a newer connection")), "{notes:?}");
    tas.shutdown().await;
}

/// An identified terminal that sends nothing while nothing runs is disconnected after the idle time-out (OPI has
/// no keep-alive, so idle means no traffic) and taken off the list.
#[tokio::test]
async fn an_idle_terminal_is_disconnected_after_the_idle_time_out() {
    let config = TasConfig { idle_timeout: Duration::from_millis(300), ..TasConfig::default() };
    let (tas, _api) = start_with(config).await;
    let mut term = connect(&tas, "12345678").await;
    assert!(matches!(timeout(T, term.next()).await.expect("closed in time"), None | Some(Err(_))));
    assert!(tas.terminals().is_empty());
    let notes: Vec<String> = tas.transcript(Some("12345678"), 0).into_iter().filter_map(|e| e.note).collect();
    assert!(notes.iter().any(|n| n.starts_with("closed: idle for 300ms")), "{notes:?}");
    tas.shutdown().await;
}

/// Junk from connections that never hand-shake leaves one short entry each (peer, bytes, why closed), not its
/// bytes: 1,000 connections sending 64 KiB each keep the transcript small; and `GET /transcript` pages through
/// everything in order.
#[tokio::test]
async fn junk_from_a_thousand_bad_connections_keeps_the_transcript_small_and_pages_return_it_in_order() {
    let (tas, api) = start().await;
    let junk = Bytes::from(vec![b'A'; 64 * 1024 - 1]);
    let addr = tas.terminal_addr();
    for _ in 0..20 {
        let batch = (0..50).map(|_| {
            let junk = junk.clone();
            async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                let mut c =
                    Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
                c.send(junk).await.unwrap();
                assert!(
                    timeout(T, c.next()).await.expect("closed in time").is_none(),
                    "closed without an answer"
                );
            }
        });
        futures::future::join_all(batch).await;
    }
    let _term = connect(&tas, "12345678").await;

    let entries = tas.transcript(None, 0);
    let junk_entries: Vec<_> = entries.iter().filter(|e| e.tms_id.is_none()).collect();
    assert_eq!(junk_entries.len(), 1000, "one entry per bad connection");
    for e in &junk_entries {
        assert_eq!((e.dir, e.bytes, e.xml.as_str()), (ccv_tas::Direction::Event, 64 * 1024 - 1, ""));
        let note = e.note.as_deref().unwrap_or_default();
        assert!(
            note.starts_with("closed: first frame is not a hand-shake") && note.contains("never hand-shook")
        );
    }
    let bytes = tas.transcript_memory_bytes();
    assert!(bytes < 1000 * 1024, "the junk's 64 MB are not kept: {bytes} bytes");

    // Paged over HTTP, 7 at a time: everything, in order.
    let mut seqs = Vec::new();
    let mut since = 0;
    for _ in 0..1000 {
        let path = format!("/transcript?since={since}&limit=7");
        let (s, page) = call_json(&api, Method::GET, &path, None, T).await.unwrap();
        assert_eq!(s, StatusCode::OK, "{page}");
        let got = page["entries"].as_array().expect("entries");
        assert!(got.len() <= 7);
        seqs.extend(got.iter().map(|e| e["seq"].as_u64().expect("seq")));
        since = page["next"].as_u64().expect("next");
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(seqs, entries.iter().map(|e| e.seq).collect::<Vec<_>>());
    // A limit above the maximum is capped.
    let (_, page) = call_json(&api, Method::GET, "/transcript?limit=100000", None, T).await.unwrap();
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(ccv_tas::transcript::MAX_PAGE_ENTRIES));
    assert_eq!((page["more"].as_bool(), page["dropped"].as_u64()), (Some(true), Some(0)));
    tas.shutdown().await;
}

/// Starts a payment of 3.00 through the API and returns its call and the request the terminal received.
async fn start_payment(
    api: &str,
    tms_id: &str,
    term: &mut Conn,
) -> (tokio::task::JoinHandle<(StatusCode, Value)>, ccv_opi::CardServiceRequest) {
    let (api, path) = (api.to_owned(), format!("/terminals/{tms_id}/payments"));
    let pay = tokio::spawn(async move { post(&api, &path, json!({"amount": "3"})).await });
    match recv(term).await {
        Message::CardServiceRequest(r) => (pay, r),
        other => panic!("expected the payment request, got {other:?}"),
    }
}

fn service_response(h: &Header, request_type: ccv_opi::ServiceRequestType, result: OverallResult) -> Message {
    Message::ServiceResponse(ServiceResponse {
        header: h.clone(),
        request_type,
        overall_result: result,
        terminal: None,
        reconciliation: None,
        private_data: None,
    })
}

/// Plays the terminal's side of an abort: the abort request succeeds and the payment `req` ends `Aborted`.
async fn accept_abort(term: &mut Conn, abort: &ccv_opi::ServiceRequest, req: &ccv_opi::CardServiceRequest) {
    assert_eq!(abort.request_type, ccv_opi::ServiceRequestType::AbortRequest);
    term.send(enc(&service_response(&abort.header, abort.request_type, OverallResult::Success)))
        .await
        .unwrap();
    let aborted = Message::CardServiceResponse(CardServiceResponse {
        header: req.header.clone(),
        request_type: req.request_type,
        overall_result: OverallResult::Aborted,
        terminal: None,
        tender: None,
        card_value: None,
        private_data: None,
    });
    term.send(enc(&aborted)).await.unwrap();
}

#[tokio::test]
async fn abort_and_service_requests() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "55555555").await;
    let (s, _) = post(&api, "/terminals/55555555/abort", json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "nothing to abort");

    let (pay, req) = start_payment(&api, "55555555", &mut term).await;
    let api3 = api.clone();
    let abort = tokio::spawn(async move { post(&api3, "/terminals/55555555/abort", json!({})).await });
    let ab = match recv(&mut term).await {
        Message::ServiceRequest(r) => r,
        other => panic!("{other:?}"),
    };
    accept_abort(&mut term, &ab, &req).await;
    assert_eq!(abort.await.unwrap().1["overallResult"], "Success");
    assert_eq!(pay.await.unwrap().1["overallResult"], "Aborted");

    for (route, rt) in [
        ("login", ccv_opi::ServiceRequestType::Login),
        ("logoff", ccv_opi::ServiceRequestType::Logoff),
        ("reconciliation", ccv_opi::ServiceRequestType::Reconciliation),
    ] {
        let api2 = api.clone();
        let call =
            tokio::spawn(
                async move { post(&api2, &format!("/terminals/55555555/{route}"), json!({})).await },
            );
        let r = match recv(&mut term).await {
            Message::ServiceRequest(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.request_type, rt);
        term.send(enc(&service_response(&r.header, rt, OverallResult::Success))).await.unwrap();
        let (_, result) = call.await.unwrap();
        assert_eq!(result["requestType"], rt.as_str());
        assert_eq!(result["overallResult"], "Success");
    }
    tas.shutdown().await;
}

#[tokio::test]
async fn api_refuses_bad_requests_with_clear_errors() {
    let (tas, api) = start().await;
    let (s, body) = post(&api, "/terminals/99999999/payments", json!({"amount": "1.00"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("not connected"));
    let _term = connect(&tas, "66666666").await;
    for bad in [
        json!({"amount": "1.234"}),
        json!({"amount": true}),
        json!({}),
        json!({"amount": "1", "currency": "eur"}),
    ] {
        let (s, body) = post(&api, "/terminals/66666666/payments", bad.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert!(body["message"].is_string());
    }
    let (s, _) = call_json(&api, Method::GET, "/nope", None, T).await.unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND);
    tas.shutdown().await;
}

#[tokio::test]
async fn bad_first_frames_and_oversize_frames_close_the_connection() {
    let (tas, _api) = start().await;
    // Not XML at all.
    let stream = TcpStream::connect(tas.terminal_addr()).await.unwrap();
    let mut c = Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    c.send(Bytes::from_static(b"hello there")).await.unwrap();
    assert!(timeout(T, c.next()).await.unwrap().is_none(), "closed without an answer");

    // An OPI request that is not the hand-shake: answered FormatError, then closed.
    let stream = TcpStream::connect(tas.terminal_addr()).await.unwrap();
    let mut c = Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    let wrong = Message::DeviceRequest(DeviceRequest {
        header: Header { workstation_id: "X".into(), request_id: "1".into(), ..Header::default() },
        request_type: DeviceRequestType::Output,
        outputs: vec![Output { out_device_target: OutDevice::Printer, text_lines: vec![TextLine::new("x")] }],
        input: None,
        private_data: None,
    });
    c.send(enc(&wrong)).await.unwrap();
    let answer = recv(&mut c).await;
    assert_eq!(answer.overall_result(), Some(&OverallResult::FormatError));
    assert!(timeout(T, c.next()).await.unwrap().is_none());

    // A length prefix above the limit.
    let mut term = connect(&tas, "77777777").await;
    use tokio::io::AsyncWriteExt;
    term.get_mut().write_all(&(10_000_000u32).to_be_bytes()).await.unwrap();
    assert!(matches!(timeout(T, term.next()).await.unwrap(), None | Some(Err(_))));
    let notes: Vec<String> = tas.transcript(Some("77777777"), 0).into_iter().filter_map(|e| e.note).collect();
    assert!(notes.iter().any(|n| n.contains("framing error")), "{notes:?}");
    // The socket is closed only after the terminal is off the list, so seeing the close is enough.
    assert!(tas.terminals().iter().all(|t| t.tms_id != "77777777"));
    let _ = Amount::new(1, Currency::EUR);
    tas.shutdown().await;
}

#[tokio::test]
async fn taken_down_the_tas_refuses_dials_and_drops_terminals_then_comes_back_on_the_same_port() {
    let (tas, api) = start().await;
    let addr = tas.terminal_addr();
    let mut term = connect(&tas, "44444444").await;
    let api2 = api.clone();
    let call =
        tokio::spawn(
            async move { post(&api2, "/terminals/44444444/payments", json!({"amount": "1.00"})).await },
        );
    let _ = recv(&mut term).await;

    tas.set_down(true).await.unwrap();
    assert!(tas.is_down());
    // The live session is dropped: the terminal's socket closes and the running payment ends, outcome unknown.
    let end = timeout(T, term.next()).await.expect("the TAS closes the connection in time");
    assert!(!matches!(end, Some(Ok(_))), "no frame after the TAS went down: {end:?}");
    let (status, result) = timeout(T, call).await.expect("the result in time").unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["outcome"], "unknown", "{result}");
    // The listener is closed: a dial is refused.
    let err = TcpStream::connect(addr).await.expect_err("nobody listens while the TAS is down");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    // The API still answers: the terminal is gone from its list.
    let (_, list) = call_json(&api, Method::GET, "/terminals", None, T).await.unwrap();
    assert_eq!(list, json!([]));

    tas.set_down(false).await.unwrap();
    assert!(!tas.is_down());
    assert_eq!(tas.terminal_addr(), addr);
    let _back = connect(&tas, "44444444").await;
    tas.shutdown().await;
}

/// Sends `method path` with a raw body and the given headers; returns the status and the JSON answer.
async fn raw(
    api: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let client = reqwest::Client::builder().no_proxy().timeout(T).build().expect("client builds");
    let mut req = client.request(method, format!("{api}{path}")).body(body.to_owned());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("the API answers");
    let status = resp.status();
    let body = resp.bytes().await.expect("answer body");
    (status, serde_json::from_slice(&body).expect("the answer is JSON"))
}

/// Request heads far beyond what a REST client sends (one 1 MiB header, 10,000 small headers, one header as long as
/// the limit) get 431 or a closed connection, and the next request is served; a 16 KiB header is still served
/// (hyper's own limit, about 400 KiB, would let the one at the limit through).
#[tokio::test]
async fn oversize_request_heads_get_431_and_the_api_keeps_serving() {
    let (tas, api) = start().await;
    let addr = tas.api_addr().unwrap();
    let at_the_limit = HeaderFlood::OneHuge(ccv_tas::api::MAX_REQUEST_HEAD_BYTES);
    for flood in HeaderFlood::BOTH.into_iter().chain([at_the_limit]) {
        let answer = send_header_flood(addr, "/terminals", flood, T).await.unwrap();
        assert!(answer.is_refusal(), "{flood:?}: {answer:?}");
        let (status, _) = call_json(&api, Method::GET, "/terminals", None, T).await.unwrap();
        assert_eq!(status, StatusCode::OK, "served after {flood:?}");
    }
    let fine = send_header_flood(addr, "/terminals", HeaderFlood::OneHuge(16 * 1024), T).await.unwrap();
    assert_eq!(fine, FloodAnswer::Status(200));
    tas.shutdown().await;
}

/// A client that starts a request and never finishes its head is closed after the head's time-out; other
/// requests are served meanwhile.
#[tokio::test]
async fn a_request_head_that_never_finishes_is_closed_after_the_time_out() {
    use tokio::io::AsyncWriteExt;
    let (tas, api) = start().await;
    let mut slow = TcpStream::connect(tas.api_addr().unwrap()).await.unwrap();
    slow.write_all(b"GET /terminals HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (status, _) = call_json(&api, Method::GET, "/terminals", None, T).await.unwrap();
    assert_eq!(status, StatusCode::OK, "served while the slow client stalls");
    let started = tokio::time::Instant::now();
    let mut out = Vec::new();
    let read = timeout(
        ccv_tas::api::REQUEST_HEAD_TIMEOUT + T,
        tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut out),
    );
    assert!(read.await.is_ok(), "closed within the head's time-out");
    assert!(started.elapsed() <= ccv_tas::api::REQUEST_HEAD_TIMEOUT + T);
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    tas.shutdown().await;
}

/// A page in a browser can send `text/plain` bodies and any request with its own `Origin` without a preflight:
/// every state-changing route refuses both, and a running payment is not disturbed.
#[tokio::test]
async fn state_changing_routes_refuse_other_content_types_and_foreign_origins() {
    let (tas, api) = start().await;
    let mut term = connect(&tas, "77777777").await;
    // No body and no Content-Type is fine (nothing to abort on an idle terminal).
    let (s, body) = raw(&api, Method::POST, "/terminals/77777777/abort", &[], "").await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    let (pay, req) = start_payment(&api, "77777777", &mut term).await;
    let routes = [
        (Method::POST, "payments", r#"{"amount": "1"}"#),
        (Method::POST, "refunds", r#"{"amount": "1"}"#),
        (Method::POST, "reversals", r#"{"amount": "1"}"#),
        (Method::POST, "abort", "{}"),
        (Method::POST, "abort", ""),
        (Method::POST, "login", "{}"),
        (Method::POST, "logoff", "{}"),
        (Method::POST, "reconciliation", "{}"),
        (Method::PUT, "printer", r#"{"fail": true}"#),
    ];
    let json_type = ("content-type", "application/json");
    for (method, route, body) in routes {
        let path = format!("/terminals/77777777/{route}");
        for content_type in ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"] {
            let (s, answer) = raw(&api, method.clone(), &path, &[("content-type", content_type)], body).await;
            assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{route} {content_type}: {answer}");
            assert_eq!(answer["error"], "unsupported_media_type", "{answer}");
            assert!(answer["message"].as_str().unwrap_or_default().contains("application/json"), "{answer}");
        }
        if !body.is_empty() {
            let (s, answer) = raw(&api, method.clone(), &path, &[], body).await;
            assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{route} with a body and no type: {answer}");
        }
        for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
            let (s, answer) = raw(&api, method.clone(), &path, &[json_type, ("origin", origin)], body).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{route} from {origin}: {answer}");
            assert_eq!(answer["error"], "cross_origin", "{answer}");
            assert!(answer["message"].as_str().unwrap_or_default().contains(origin), "{answer}");
        }
    }
    // The API's own origin may abort: the terminal's next frame is that abort, so nothing refused got through.
    let api3 = api.clone();
    let abort = tokio::spawn(async move {
        raw(&api3, Method::POST, "/terminals/77777777/abort", &[json_type, ("origin", &api3)], "{}").await
    });
    let ab = match recv(&mut term).await {
        Message::ServiceRequest(r) => r,
        other => panic!("the first frame after the refusals must be the abort, got {other:?}"),
    };
    accept_abort(&mut term, &ab, &req).await;
    assert_eq!(abort.await.unwrap().1["overallResult"], "Success");
    assert_eq!(pay.await.unwrap().1["overallResult"], "Aborted");
    tas.shutdown().await;
}
