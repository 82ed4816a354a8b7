//! `ccv-emu scenario run`: exit 0 with a PASS line per scenario, 2 with the failing step's expectation and what was
//! seen, 1 for a file that is not a scenario; `--json` for tools.

use serde_json::Value;

mod common;

fn scenario(args: &[&str]) -> (i32, String) {
    common::run(&[&["scenario", "run"], args].concat())
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scenarios");

#[test]
fn a_passing_a_failing_and_a_broken_scenario_have_their_exit_status() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let passing = format!("{FIXTURES}/r15_day_close.toml");
    let (code, out) = scenario(&[&passing]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("PASS ") && out.contains("r15_day_close.toml (11 steps"), "{out}");

    let failing = tmp.path().join("wrong.toml");
    std::fs::write(
        &failing,
        "name = \"the wrong screen\"\nterminal = \"29000001\"\n[[step]]\nsay = \"open the menu\"\nkeys = \"MENU\"\n\
         within = \"500ms\"\nexpect.screen = \"DAGAFSLUITING\"\n",
    )
    .expect("write");
    let (code, out) = scenario(&[failing.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("FAIL ") && out.contains("step 1 of 1 \"open the menu\" (keys \"MENU\" on 29000001)"),
        "{out}"
    );
    assert!(out.contains("screen: expected a line containing \"DAGAFSLUITING\""), "{out}");
    assert!(out.contains("seen     [\"START MENU\""), "{out}");

    let broken = tmp.path().join("broken.toml");
    std::fs::write(&broken, "name = ").expect("write");
    let (code, out) = scenario(&[broken.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ERROR ") && out.contains("broken.toml"), "{out}");

    let (code, out) = scenario(&["--json", &passing, failing.to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    let reports: Value = serde_json::from_str(out.trim()).expect("one JSON array");
    assert_eq!(reports[0]["passed"], true);
    assert_eq!(reports[0]["passedSteps"], 11);
    assert_eq!(reports[1]["passed"], false);
    assert_eq!(reports[1]["failure"]["step"], 1);
    assert_eq!(reports[1]["failure"]["mismatches"][0]["what"], "screen");
}
