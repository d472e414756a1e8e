//! A thin gRPC client for Xray's API (HandlerService + StatsService).
//!
//! Every call retries with exponential backoff, but only on transport errors
//! (Xray not up yet, restarting, connection reset): an answer from Xray that
//! says "no" is final. Adds and removes are made idempotent here ("already
//! exists" / "not found" count as success) so that a retry after a lost
//! response, or a reconcile racing a restart, never fails spuriously.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use prost::Message as _;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::error::XrayError;
use crate::proto::proxyman::handler_service_client::HandlerServiceClient;
use crate::proto::proxyman::{
    AddUserOperation, AlterInboundRequest, GetInboundUserRequest, RemoveUserOperation,
};
use crate::proto::serial::TypedMessage;
use crate::proto::stats::stats_service_client::StatsServiceClient;
use crate::proto::stats::{GetStatsRequest, QueryStatsRequest, SysStatsRequest};
use crate::proto::{protocol, vless};
use crate::settings::XrayUser;

const TYPE_ADD_USER: &str = "xray.app.proxyman.command.AddUserOperation";
const TYPE_REMOVE_USER: &str = "xray.app.proxyman.command.RemoveUserOperation";
const TYPE_VLESS_ACCOUNT: &str = "xray.proxy.vless.Account";

/// Exponential backoff for transport errors.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Total attempts including the first one.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        // ~6 s in total: long enough to ride out an Xray restart, short
        // enough that a dead node does not stall the operation queue.
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            attempts: 7,
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max)
    }
}

/// Per-user traffic since the previous reset, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub uplink: u64,
    pub downlink: u64,
}

/// Client of one Xray's API. Cheap to clone (one HTTP/2 connection shared).
#[derive(Clone)]
pub struct XrayApi {
    addr: SocketAddr,
    handler: HandlerServiceClient<Channel>,
    stats: StatsServiceClient<Channel>,
    backoff: Backoff,
}

impl XrayApi {
    /// Builds a client; nothing is dialled until the first call, so this
    /// works while Xray is still starting.
    pub fn new(addr: SocketAddr) -> Self {
        Self::with_backoff(addr, Backoff::default())
    }

    pub fn with_backoff(addr: SocketAddr, backoff: Backoff) -> Self {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("a socket address is a valid URI authority")
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .connect_lazy();
        Self {
            addr,
            handler: HandlerServiceClient::new(channel.clone()),
            stats: StatsServiceClient::new(channel),
            backoff,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `call` until it succeeds, fails for good, or the backoff is spent.
    async fn retry<T, F, Fut>(&self, name: &'static str, mut call: F) -> Result<T, XrayError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(status) => {
                    let err = self.classify(name, status);
                    attempt += 1;
                    if !err.is_transient() || attempt >= self.backoff.attempts {
                        return Err(err);
                    }
                    let delay = self.backoff.delay(attempt - 1);
                    tracing::debug!(call = name, attempt, ?delay, error = %err, "xray API retry");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn classify(&self, call: &'static str, status: tonic::Status) -> XrayError {
        // tonic reports refused/reset connections and connect timeouts as
        // Unavailable (and a per-request timeout as Cancelled/DeadlineExceeded
        // depending on where it fired); everything else came from Xray itself.
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                XrayError::Unavailable {
                    addr: self.addr.to_string(),
                    message: one_line(status.message()),
                }
            }
            _ => XrayError::Api {
                call,
                message: one_line(status.message()),
            },
        }
    }

    /// Adds a VLESS user to the inbound `tag`. Adding a user whose email is
    /// already present succeeds without change (callers compare first when
    /// they need to replace a credential).
    pub async fn add_user(&self, tag: &str, user: &XrayUser) -> Result<(), XrayError> {
        user.validate()?;
        let account = vless::Account {
            id: user.uuid.to_string(),
            flow: user.flow.clone(),
            encryption: "none".into(),
        };
        let op = AddUserOperation {
            user: Some(protocol::User {
                level: 0,
                email: user.email.clone(),
                account: Some(TypedMessage {
                    r#type: TYPE_VLESS_ACCOUNT.into(),
                    value: account.encode_to_vec(),
                }),
            }),
        };
        let req = AlterInboundRequest {
            tag: tag.into(),
            operation: Some(TypedMessage {
                r#type: TYPE_ADD_USER.into(),
                value: op.encode_to_vec(),
            }),
        };
        let res = self
            .retry("AlterInbound(AddUser)", || {
                let mut c = self.handler.clone();
                let req = req.clone();
                async move { c.alter_inbound(req).await }
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(XrayError::Api { message, .. }) if message.contains("already exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the user `email` from inbound `tag`; absent users are fine.
    pub async fn remove_user(&self, tag: &str, email: &str) -> Result<(), XrayError> {
        let op = RemoveUserOperation {
            email: email.into(),
        };
        let req = AlterInboundRequest {
            tag: tag.into(),
            operation: Some(TypedMessage {
                r#type: TYPE_REMOVE_USER.into(),
                value: op.encode_to_vec(),
            }),
        };
        let res = self
            .retry("AlterInbound(RemoveUser)", || {
                let mut c = self.handler.clone();
                let req = req.clone();
                async move { c.alter_inbound(req).await }
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(XrayError::Api { message, .. }) if message.contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every user of inbound `tag` as Xray currently holds them.
    pub async fn inbound_users(&self, tag: &str) -> Result<Vec<XrayUser>, XrayError> {
        let req = GetInboundUserRequest {
            tag: tag.into(),
            email: String::new(),
        };
        let resp = self
            .retry("GetInboundUsers", || {
                let mut c = self.handler.clone();
                let req = req.clone();
                async move { c.get_inbound_users(req).await }
            })
            .await?
            .into_inner();
        let mut users = Vec::with_capacity(resp.users.len());
        for u in resp.users {
            let Some(account) = u.account else { continue };
            if account.r#type != TYPE_VLESS_ACCOUNT {
                continue;
            }
            let acc =
                vless::Account::decode(account.value.as_slice()).map_err(|e| XrayError::Api {
                    call: "GetInboundUsers",
                    message: format!("undecodable VLESS account: {e}"),
                })?;
            // A user Xray holds with an id we cannot parse is still reported
            // (as nil) so the reconciler removes it instead of ignoring it.
            let uuid = uuid::Uuid::parse_str(&acc.id).unwrap_or(uuid::Uuid::nil());
            users.push(XrayUser {
                email: u.email,
                uuid,
                flow: acc.flow,
            });
        }
        Ok(users)
    }

    /// Per-user traffic counters (`user>>>EMAIL>>>traffic>>>uplink|downlink`).
    /// With `reset` the counters are zeroed atomically by Xray as they are
    /// read, so successive calls return deltas and nothing is counted twice.
    pub async fn user_traffic(&self, reset: bool) -> Result<HashMap<String, Traffic>, XrayError> {
        let req = QueryStatsRequest {
            pattern: "user>>>".into(),
            reset,
        };
        let resp = self
            .retry("QueryStats", || {
                let mut c = self.stats.clone();
                let req = req.clone();
                async move { c.query_stats(req).await }
            })
            .await?
            .into_inner();
        Ok(parse_user_traffic(
            resp.stat.iter().map(|s| (s.name.as_str(), s.value)),
        ))
    }

    /// Client IPs Xray saw for `email` in the last ~20 s (needs the policy
    /// `statsUserOnline`; Xray never lists 127.0.0.1). Empty when none.
    pub async fn online_ips(&self, email: &str) -> Result<BTreeMap<String, i64>, XrayError> {
        let req = GetStatsRequest {
            name: format!("user>>>{email}>>>online"),
            reset: false,
        };
        let res = self
            .retry("GetStatsOnlineIpList", || {
                let mut c = self.stats.clone();
                let req = req.clone();
                async move { c.get_stats_online_ip_list(req).await }
            })
            .await;
        match res {
            Ok(r) => Ok(r.into_inner().ips.into_iter().collect()),
            // Xray answers "not found" for a user that has never connected.
            Err(XrayError::Api { message, .. }) if message.contains("not found") => {
                Ok(BTreeMap::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Health check: Xray's API answers. Returns Xray's uptime in seconds.
    /// No retries: a health check reports the present.
    pub async fn health(&self) -> Result<u32, XrayError> {
        let mut c = self.stats.clone();
        c.get_sys_stats(SysStatsRequest {})
            .await
            .map(|r| r.into_inner().uptime)
            .map_err(|s| self.classify("GetSysStats", s))
    }
}

/// Folds `user>>>EMAIL>>>traffic>>>uplink|downlink` counters into per-email
/// totals; other counters are ignored.
pub fn parse_user_traffic<'a>(
    stats: impl IntoIterator<Item = (&'a str, i64)>,
) -> HashMap<String, Traffic> {
    let mut out: HashMap<String, Traffic> = HashMap::new();
    for (name, value) in stats {
        let mut parts = name.split(">>>");
        let (Some("user"), Some(email), Some("traffic"), Some(dir), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let value = u64::try_from(value).unwrap_or(0);
        let t = out.entry(email.to_string()).or_default();
        match dir {
            "uplink" => t.uplink += value,
            "downlink" => t.downlink += value,
            _ => {}
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_counters_parse() {
        let stats = [
            ("user>>>dev-1>>>traffic>>>uplink", 10),
            ("user>>>dev-1>>>traffic>>>downlink", 20),
            ("user>>>dev-2>>>traffic>>>downlink", 5),
            ("inbound>>>api>>>traffic>>>uplink", 99),
            ("user>>>dev-3>>>online", 1),
        ];
        let t = parse_user_traffic(stats);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t["dev-1"],
            Traffic {
                uplink: 10,
                downlink: 20
            }
        );
        assert_eq!(t["dev-2"].downlink, 5);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::default();
        assert_eq!(b.delay(0), Duration::from_millis(100));
        assert_eq!(b.delay(1), Duration::from_millis(200));
        assert_eq!(b.delay(10), Duration::from_secs(2));
        assert_eq!(b.delay(40), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn refused_connection_is_transient_and_retried() {
        // A port nobody listens on: bind, note it, drop.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let api = XrayApi::with_backoff(
            port,
            Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(2),
                attempts: 3,
            },
        );
        let err = api.inbound_users("x").await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
}
