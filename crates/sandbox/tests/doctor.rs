//! `doctor` against a live sandbox: a healthy terminal passes every check, and each fault of the installer's
//! checklist (R23), injected into one terminal, fails its own check.

use std::time::Duration;

use ccv_sandbox::fleet::{Fleet, FleetTerminal, TerminalSpec};
use ccv_sandbox::{Sandbox, SandboxOptions};
use ccv_terminal::PosOpiMode;
use ccv_terminal_io::config::FileConfig;
use ccv_vpos::client::VposClient;
use serde_json::json;

const T: Duration = Duration::from_secs(15);

/// A migrated terminal with one thing changed by `break_it`.
fn terminal(tms_id: &str, whitelisted: bool, break_it: impl FnOnce(&mut FileConfig)) -> FleetTerminal {
    let mut config = FileConfig::default();
    config.terminal.identity.tms_id = tms_id.to_owned();
    break_it(&mut config);
    let spec = TerminalSpec {
        tms_id: tms_id.to_owned(),
        label: String::new(),
        base: None,
        config: None,
        merchant: "sandbox".to_owned(),
        whitelisted,
        count: None,
    };
    FleetTerminal { spec, config }
}

fn failing(report: &ccv_sandbox::doctor::Report) -> Vec<&'static str> {
    report.checks.iter().filter(|c| !c.pass).map(|c| c.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_fails_its_own_check() {
    let mut fleet = Fleet::default_fleet().expect("default fleet");
    fleet.terminals = vec![
        terminal("50000001", true, |_| {}),
        terminal("50000002", false, |_| {}),
        terminal("50000003", true, |c| c.terminal.tms.cloud_connection = false),
        terminal("50000004", true, |c| {
            c.terminal.tms.mqt = true;
            c.terminal.installed.mqt = false;
        }),
        terminal("50000005", true, |c| c.terminal.pos_opi_mode = PosOpiMode::DefaultIts),
        terminal("50000006", true, |c| c.terminal.network.dns_configured = false),
        terminal("50000007", true, |c| c.terminal.network.outgoing_443_allowed = false),
        terminal("50000008", true, |c| {
            c.terminal.software = ccv_terminal::SoftwareVersion::min_local_kick();
        }),
        terminal("50000009", true, |_| {}),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let options = SandboxOptions {
        state_dir: tmp.path().join("state"),
        fleet,
        ephemeral_ports: true,
        ports: Default::default(),
        reset: false,
        clock: None,
        tas_plain_tcp: false,
    };
    let sandbox = Sandbox::start(options).await.expect("sandbox starts");
    sandbox.settle_links(T).await;

    // The POS of terminal 50000009 still sends the Cloud Connect 1.0 system ID.
    let info = sandbox.info();
    let key = &info.merchants.iter().find(|m| m.name == "sandbox").expect("merchant").api_key;
    let body = json!({"amount": "1.00", "currency": "EUR", "method": "terminal",
        "details": {"terminalId": "50000009", "managementSystemId": "08900000002", "accessProtocol": "OPI_NL",
                    "ip": "127.0.0.1", "port": 9}});
    let (status, _) =
        VposClient::new(info.api_url.clone(), key.clone()).create_payment(&body).await.expect("answer");
    assert_eq!(status, 200);

    let report = |id: &str| {
        let t = sandbox.terminal(id).expect("terminal");
        t.doctor(sandbox.vpos())
    };
    let healthy = report("50000001").await;
    assert!(healthy.ok, "a healthy terminal passes: {healthy:?}");
    for (id, check) in [
        ("50000002", "whitelist"),
        ("50000003", "cloud_connection"),
        ("50000004", "hardware_installation"),
        ("50000005", "flat_outgoing"),
        ("50000006", "dns"),
        ("50000007", "port_443"),
        ("50000008", "software"),
        ("50000009", "pos_config"),
    ] {
        let r = report(id).await;
        let failed = failing(&r);
        assert!(!r.ok && failed.contains(&check), "{id}: {check} fails: {failed:?}");
        // Only the fault and the MQTT link it takes down (and, for a TMS change, the installation it asks for).
        let allowed = [check, "mqtt_link", "hardware_installation"];
        assert!(failed.iter().all(|f| allowed.contains(f)), "{id}: nothing else fails: {failed:?}");
    }
    // Faults that leave the MQTT link up fail exactly their own check.
    for (id, check) in [("50000002", "whitelist"), ("50000005", "flat_outgoing"), ("50000009", "pos_config")]
    {
        assert_eq!(failing(&report(id).await), vec![check], "{id}");
    }
    sandbox.shutdown().await;
}
