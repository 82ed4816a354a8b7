//! [`VposServer`]: the payment API's listeners (the API with its `payUrl` page, and the admin API).

use std::net::SocketAddr;
use std::time::Duration;

use ccv_tas::api::serve;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::Vpos;
use crate::http::{admin_router, api_router};

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source} (is the port in use? pick another one)")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The cause.
    pub source: std::io::Error,
}

/// The running HTTP side of a payment API.
#[derive(Debug)]
pub struct VposServer {
    api_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| BindError { addr, source })?;
    let local = listener.local_addr().map_err(|source| BindError { addr, source })?;
    Ok((listener, local))
}

impl VposServer {
    /// Serves the payment API on `api` and, when given, the admin API on `admin` (keep that on loopback).
    pub async fn start(
        vpos: Vpos,
        api: SocketAddr,
        admin: Option<SocketAddr>,
    ) -> Result<VposServer, BindError> {
        let shutdown = CancellationToken::new();
        let (listener, api_addr) = bind(api).await?;
        let mut tasks = vec![tokio::spawn(serve(listener, api_router(vpos.clone()), shutdown.clone()))];
        let mut admin_addr = None;
        if let Some(admin) = admin {
            let (listener, addr) = bind(admin).await?;
            admin_addr = Some(addr);
            tasks.push(tokio::spawn(serve(listener, admin_router(vpos), shutdown.clone())));
        }
        tracing::info!(%api_addr, ?admin_addr, "payment API listening");
        Ok(VposServer { api_addr, admin_addr, shutdown, tasks })
    }

    /// Where the payment API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where the admin API listens, if started.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Stops listening (requests in progress get up to 5 s).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for VposServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
