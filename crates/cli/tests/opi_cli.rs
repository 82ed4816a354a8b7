//! `ccv-emu opi decode|encode`, run as a user runs it: the built binary, real files and pipes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/opi").join(name)
}

/// Runs `ccv-emu opi ARGS` with `stdin` as standard input.
fn opi(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccv-emu"))
        .arg("opi")
        .args(args)
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ccv-emu binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin).expect("stdin accepts the input");
    drop(input);
    child.wait_with_output().expect("ccv-emu finishes")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Invalid input: exit status 1 and exactly one line on stderr that names the OPI result.
fn assert_one_line_failure(out: &Output, overall_result: &str) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line expected, got: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(&format!("OverallResult: {overall_result}")), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout after a failure");
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

#[test]
fn decode_prints_json_with_opi_field_names() {
    let path = fixture("card_payment_request.xml");
    let out = opi(&["decode", path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &json["CardServiceRequest"];
    assert_eq!(m["RequestType"], "CardPayment");
    assert_eq!(m["WorkstationID"], "POS01");
    assert_eq!(m["TotalAmount"]["Value"], "39.50");
    assert_eq!(m["POSdata"]["POSTimeStamp"], "2026-11-28T10:15:00+01:00");
}

#[test]
fn decode_reads_stdin_with_or_without_dash() {
    let xml = std::fs::read(fixture("service_login_request.xml")).unwrap();
    for args in [&["decode"][..], &["decode", "-"][..]] {
        let out = opi(args, &xml);
        assert!(out.status.success(), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["ServiceRequest"]["RequestType"], "Login");
    }
}

#[test]
fn decode_honours_iso_8859_1() {
    let path = fixture("foreign_iso8859_1_receipt.xml");
    let out = opi(&["decode", path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8(out.stdout).unwrap().contains("Café de Gouden Leeuw"));
}

#[test]
fn decode_framed_prints_one_object_per_frame() {
    let mut stream = frame(&std::fs::read(fixture("card_payment_request.xml")).unwrap());
    stream.extend(frame(&std::fs::read(fixture("device_output_receipt_request.xml")).unwrap()));
    let out = opi(&["decode", "--framed"], &stream);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with(r#"{"CardServiceRequest":"#));
    assert!(lines[1].starts_with(r#"{"DeviceRequest":"#));
}

#[test]
fn invalid_xml_fails_with_one_line_naming_the_opi_result() {
    let cases = [
        ("invalid/missing_total_amount.xml", "MissingMandatoryData"),
        ("invalid/bad_amount_comma.xml", "ValidationError"),
        ("invalid/unclosed_element.xml", "ParsingError"),
        ("invalid/unknown_root.xml", "FormatError"),
        ("invalid/invalid_utf8.xml", "FormatError"),
    ];
    for (name, result) in cases {
        let path = fixture(name);
        let out = opi(&["decode", path.to_str().unwrap()], b"");
        assert_one_line_failure(&out, result);
    }
    let out = opi(&["decode"], b"\x00\xff garbage");
    assert_one_line_failure(&out, "FormatError");
}

#[test]
fn broken_framing_fails_with_one_line() {
    assert_one_line_failure(&opi(&["decode", "--framed"], &[0, 0, 0, 0]), "FormatError");
    assert_one_line_failure(&opi(&["decode", "--framed"], &[0, 0, 0, 9, b'<']), "FormatError");
    let out = opi(&["decode", "--framed", "--max-frame-len", "16"], &frame(&[b' '; 17]));
    assert_one_line_failure(&out, "FormatError");
    assert!(stderr(&out).contains("exceeds the maximum of 16"), "{}", stderr(&out));
    let out = opi(&["decode", "--framed"], &frame(b"<ServiceRequest RequestType=\"Login\"/>"));
    assert_one_line_failure(&out, "MissingMandatoryData");
    assert!(stderr(&out).contains("frame 1"), "{}", stderr(&out));
}

#[test]
fn encode_reads_decode_output_back() {
    for name in ["card_payment_response_success.xml", "device_output_receipt_request.xml"] {
        let xml = std::fs::read(fixture(name)).unwrap();
        let json = opi(&["decode"], &xml);
        assert!(json.status.success(), "{}", stderr(&json));
        let encoded = opi(&["encode"], &json.stdout);
        assert!(encoded.status.success(), "{}", stderr(&encoded));
        assert!(encoded.stdout.starts_with(br#"<?xml version="1.0" encoding="UTF-8"?>"#));
        let again = opi(&["decode"], &encoded.stdout);
        assert_eq!(again.stdout, json.stdout, "{name}: XML -> JSON -> XML -> JSON is stable");
    }
}

#[test]
fn encode_writes_iso_8859_1_when_asked() {
    let json = opi(&["decode", fixture("foreign_iso8859_1_receipt.xml").to_str().unwrap()], b"");
    let out = opi(&["encode", "--encoding", "iso-8859-1"], &json.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.starts_with(br#"<?xml version="1.0" encoding="ISO-8859-1"?>"#));
    assert!(out.stdout.windows(4).any(|w| w == b"Caf\xe9"), "é is the single byte 0xE9");
}

#[test]
fn encode_framed_writes_length_prefixed_frames() {
    let a = opi(&["decode", fixture("service_login_request.xml").to_str().unwrap()], b"").stdout;
    let b = opi(&["decode", fixture("service_logoff_request.xml").to_str().unwrap()], b"").stdout;
    let out = opi(&["encode", "--framed"], &[a, b].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let len = u32::from_be_bytes(out.stdout[..4].try_into().unwrap()) as usize;
    assert!(out.stdout[4..4 + len].starts_with(b"<?xml"));
    let second = &out.stdout[4 + len..];
    let len2 = u32::from_be_bytes(second[..4].try_into().unwrap()) as usize;
    assert_eq!(second.len(), 4 + len2);
    let back = opi(&["decode", "--framed"], &out.stdout);
    assert_eq!(String::from_utf8(back.stdout).unwrap().lines().count(), 2);
}

#[test]
fn invalid_json_fails_with_one_line() {
    assert_one_line_failure(&opi(&["encode"], br#"{"ServiceRequest":"#), "ParsingError");
    assert_one_line_failure(
        &opi(&["encode"], br#"{"ServiceRequest":{"WorkstationID":"P","RequestID":"1"}}"#),
        "MissingMandatoryData",
    );
    assert_one_line_failure(
        &opi(
            &["encode"],
            br#"{"ServiceRequest":{"WorkstationID":"P","RequestID":"1","RequestType":"Dance"}}"#,
        ),
        "ValidationError",
    );
    let two = br#"{"ServiceRequest":{"WorkstationID":"P","RequestID":"1","RequestType":"Login"}}
{"ServiceRequest":{"WorkstationID":"P","RequestID":"2","RequestType":"Logoff"}}"#;
    let out = opi(&["encode"], two);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--framed"), "{}", stderr(&out));
}

#[test]
fn help_explains_the_commands() {
    let out = opi(&["--help"], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("decode") && text.contains("encode"), "{text}");
    let out = opi(&["decode", "--help"], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--framed") && text.contains("MissingMandatoryData"), "{text}");
}
