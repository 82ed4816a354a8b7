//! Golden screen transcripts for the installer procedures (R15, R17, R20): one generated test per
//! file in `fixtures/terminal/`. Each file is a key script; the screens after each step are the
//! expectation. `UPDATE_GOLDEN=1 cargo test -p ccv-terminal --test golden` rewrites them.
//!
//! File format:
//!
//! ```text
//! # comment (kept)
//! ! config default | cloud_connect_1 | legacy     (directive: the starting configuration)
//! ! tms cloud_connection on | mqt off | ...        (directive: a TMS parameter change)
//! > MENU 1 99999 OK                                (keys; PASSWORD = today's service password)
//!   START MENU                                     (the screen after the keys, indented)
//!   ~ start menu                                   (its English gloss)
//! ```

mod common;

use std::path::PathBuf;

use ccv_terminal::{Input, TerminalConfig, TmsChange};
use common::Harness;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminal")
}

fn on_off(v: &str) -> bool {
    match v {
        "on" => true,
        "off" => false,
        other => panic!("expected on/off, got {other:?}"),
    }
}

fn render(text: &str) -> String {
    let mut out = String::new();
    let mut h: Option<Harness> = None;
    for line in text.lines() {
        if line.starts_with("  ") || line.trim().is_empty() {
            continue; // expected screens are regenerated
        }
        out.push_str(line);
        out.push('\n');
        if let Some(d) = line.strip_prefix("! ") {
            let words: Vec<&str> = d.split_whitespace().collect();
            match words.as_slice() {
                ["config", name] => {
                    let c = match *name {
                        "default" => TerminalConfig::default(),
                        "cloud_connect_1" => TerminalConfig::cloud_connect_1(),
                        "legacy" => TerminalConfig::legacy(),
                        other => panic!("unknown config {other:?}"),
                    };
                    h = Some(Harness::new(c));
                }
                ["tms", param, value] => {
                    let change = match *param {
                        "cloud_connection" => TmsChange::CloudConnection(on_off(value)),
                        "mqt" => TmsChange::Mqt(on_off(value)),
                        other => panic!("unknown TMS parameter {other:?}"),
                    };
                    h.get_or_insert_with(Harness::default_terminal).feed(Input::TmsChange(change));
                }
                _ => panic!("unknown directive {d:?}"),
            }
        } else if let Some(keys) = line.strip_prefix("> ") {
            let h = h.get_or_insert_with(Harness::default_terminal);
            h.keys(keys);
            let s = h.screen();
            for l in &s.lines {
                out.push_str("  ");
                out.push_str(l);
                out.push('\n');
            }
            out.push_str("  ~ ");
            out.push_str(&s.gloss);
            out.push('\n');
        }
    }
    out
}

fn run_golden(name: &str) {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let got = render(&text);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    assert_eq!(
        got,
        text,
        "{} differs from the terminal's screens; if the change is intended, run with UPDATE_GOLDEN=1",
        path.display()
    );
}

include!(concat!(env!("OUT_DIR"), "/golden_tests.rs"));
