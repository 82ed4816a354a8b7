//! Set-up shared by the sandbox tests.

use ccv_sandbox::{Fleet, Sandbox, SandboxOptions};

/// The default fleet on free ports, its state in `state`.
pub async fn start(state: &std::path::Path) -> Sandbox {
    let options = SandboxOptions {
        state_dir: state.to_owned(),
        fleet: Fleet::default_fleet().expect("default fleet"),
        ephemeral_ports: true,
        ports: Default::default(),
        reset: false,
        clock: None,
        tas_plain_tcp: false,
    };
    Sandbox::start(options).await.expect("the sandbox starts")
}
