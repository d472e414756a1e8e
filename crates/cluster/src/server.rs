//! The Raft listener: TLS on every connection, two kinds of connection on one port.
//!
//! - Node-to-node RPC: the client must present a certificate from the cluster CA, or the
//!   TLS handshake fails (nothing reaches HTTP). Its node id goes to the handlers.
//! - The join handshake, chosen by the client offering the ALPN protocol
//!   [`JOIN_ALPN`]: no client certificate (a joiner has none yet), and only the join route
//!   is served on such a connection. The joiner checks our chain against the CA fingerprint
//!   in its link, so the cluster secret it receives comes from the cluster and nobody else.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::LazyConfigAcceptor;

use crate::rpc::PeerNode;
use crate::tls::{cert_node_id, NodeTls, TlsError, JOIN_ALPN};

/// The two routers and TLS configs of the Raft listener.
#[derive(Clone)]
pub struct RpcService {
    rpc: Router,
    join: Router,
    mtls: Arc<rustls::ServerConfig>,
    join_tls: Arc<rustls::ServerConfig>,
}

impl RpcService {
    pub fn new(rpc: Router, join: Router, tls: &NodeTls) -> Result<Self, TlsError> {
        Ok(RpcService {
            rpc,
            join,
            mtls: tls.server_config()?,
            join_tls: tls.join_server_config()?,
        })
    }

    /// Accepts connections on `listener` until `stop` completes.
    pub async fn serve(self, listener: TcpListener, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => {
                        let svc = self.clone();
                        tokio::spawn(async move { svc.connection(tcp).await });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "raft listener accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    async fn connection(self, tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let handshake = async {
            let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
            let join = start
                .client_hello()
                .alpn()
                .is_some_and(|mut protos| protos.any(|p| p == JOIN_ALPN));
            let config = if join {
                self.join_tls.clone()
            } else {
                self.mtls.clone()
            };
            Ok::<_, std::io::Error>((join, start.into_stream(config).await?))
        };
        let (join, tls) = match tokio::time::timeout(Duration::from_secs(10), handshake).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "raft listener: TLS handshake refused");
                return;
            }
            Err(_) => return,
        };
        let app = if join {
            self.join
        } else {
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| cert_node_id(c));
            let Some(peer) = peer else {
                tracing::warn!("raft listener: a cluster certificate without a node id");
                return;
            };
            self.rpc.layer(Extension(PeerNode(peer)))
        };
        let service = TowerToHyperService::new(app);
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            tracing::debug!(error = %e, "raft connection ended with an error");
        }
    }
}
