//! The scenarios of `fixtures/scenarios/` (one per rule of the installer's guide and the migration walkthrough)
//! all pass; a scenario that expects the wrong thing fails at that step and says what it expected and saw.

use std::path::{Path, PathBuf};

use ccv_sandbox::scenario::{self, Scenario};
use futures::StreamExt as _;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/scenarios")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_in_the_fixtures_passes() {
    let files = scenario_files();
    assert!(files.len() >= 20, "one scenario per rule: {files:?}");
    // Each runs in its own sandbox on free ports; a few at once (most of a scenario's time is waiting).
    let reports: Vec<scenario::Report> = futures::stream::iter(files.iter())
        .map(|f| async move { scenario::run_file(f, &mut |_| {}).await })
        .buffer_unordered(4)
        .collect()
        .await;
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| match (&r.failure, &r.error) {
            (Some(f), _) => format!("{}: {f}", r.file),
            (_, Some(e)) => format!("{}: {e}", r.file),
            _ => r.file.clone(),
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    assert!(reports.iter().all(|r| r.passed_steps == r.steps && r.steps > 0));
}

#[test]
fn every_rule_observable_from_outside_has_a_scenario() {
    let mut covered = std::collections::BTreeSet::new();
    for f in scenario_files() {
        let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.name.is_empty());
        covered.extend(s.rules);
    }
    // R4 (browsers block the local kick) needs a browser: crates/terminal-io/tests/browser_r4.rs and
    // crates/e2e/tests/vpos_browser.rs.
    let missing: Vec<String> =
        (1..=24).filter(|n| *n != 4).map(|n| format!("R{n}")).filter(|r| !covered.contains(r)).collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_does_not_hold_names_itself_what_was_expected_and_what_was_seen() {
    let text = r#"
name = "a wrong expectation"
terminal = "29000001"

[[step]]
say = "open the menu"
keys = "MENU"
expect.screen = "START MENU"

[[step]]
say = "expects the wrong screen"
keys = "1"
within = "1s"
expect.screen = "DAGAFSLUITING"
expect.mqtt = "up"

[[step]]
say = "never reached"
keys = "STOP"
"#;
    let s = Scenario::parse(text).expect("a scenario");
    let mut passed = Vec::new();
    let outcome = scenario::run_scenario(&s, Path::new("."), &mut |d| passed.push(d.step))
        .await
        .expect("the sandbox starts");
    let failure = outcome.expect_err("step 2 fails");
    assert_eq!(passed, [1]);
    assert_eq!((failure.step, failure.of), (2, 3));
    assert_eq!(failure.say.as_deref(), Some("expects the wrong screen"));
    assert_eq!(failure.action, "keys \"1\" on 29000001");
    assert_eq!(failure.mismatches.len(), 1, "the MQTT link is up: only the screen is wrong");
    let m = &failure.mismatches[0];
    assert_eq!(m.what, "screen");
    assert_eq!(m.expected, "a line containing \"DAGAFSLUITING\"");
    assert!(m.seen.contains("MANAGER WACHTWOORD"), "{}", m.seen);
    assert!(failure.waited_ms >= 1000, "it waited for the step's 1 s");
    let shown = failure.to_string();
    assert!(
        shown.starts_with("step 2 of 3 \"expects the wrong screen\" (keys \"1\" on 29000001), after 1."),
        "{shown}"
    );
    assert!(shown.contains("screen: expected a line containing \"DAGAFSLUITING\""), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_that_cannot_be_done_is_an_error_of_its_step() {
    let s = Scenario::parse(
        "name = \"x\"\n[[step]]\nterminal = \"99999999\"\nkeys = \"MENU\"\nexpect.screen = \"x\"\n",
    )
    .expect("a scenario");
    let failure = scenario::run_scenario(&s, Path::new("."), &mut |_| {})
        .await
        .expect("the sandbox starts")
        .expect_err("no such terminal");
    assert_eq!(failure.step, 1);
    let error = failure.error.expect("an error, not a mismatch");
    assert!(error.contains("99999999"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_scenario_is_reported_not_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, "name = \"x\"\n[[step]]\nkeys = \"MENU\"\npower = true\nterminal = \"1\"\n")
        .expect("write");
    let report = scenario::run_file(&path, &mut |_| {}).await;
    assert!(!report.passed);
    let error = report.error.expect("an error");
    assert!(error.contains("bad.toml") && error.contains("one action per step"), "{error}");
    let missing = scenario::run_file(&tmp.path().join("none.toml"), &mut |_| {}).await;
    assert!(missing.error.is_some_and(|e| e.contains("none.toml")));
}
