//! Cutting a revoked user's live connections.
//!
//! Xray checks VLESS credentials only during the handshake: `RemoveUser`
//! stops new connections but an established one keeps relaying for as long
//! as it is not idle (upstream attempts to close them on removal, XTLS/Xray-core
//! PRs #6101/#6102, were not merged). Restarting Xray would drop everyone.
//!
//! What we do instead: find the TCP sockets that belong to the user on the
//! VLESS port and destroy them in the kernel with `ss -K` (SOCK_DESTROY via
//! inet_diag; needs CAP_NET_ADMIN and Xray in our network namespace). Xray's
//! read fails, it tears the session down, the client sees a reset, and its
//! reconnect is refused because the user is already gone.
//!
//! Which sockets are the user's:
//! - Exact, when vpnkeeper supervises Xray: the config sends Xray's access log
//!   to stdout, the supervisor feeds each line to [`ConnTracker`], which keeps
//!   only `email -> client ip:port` in memory (destinations are dropped and
//!   nothing is written to disk). Only that user's sockets are destroyed.
//! - By client IP otherwise: Xray's `GetStatsOnlineIpList` (policy
//!   `statsUserOnline`) lists the IPs the user connected from in the last
//!   ~20 s; every socket from those IPs to the VLESS port is destroyed. Other
//!   users behind the same IP (CGNAT) lose a connection and reconnect at once.
//!   Xray never lists 127.0.0.1, and forgets an IP 20 s after the user's last
//!   new connection, which is why the exact mode is preferred.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::client::XrayApi;
use crate::error::XrayError;

/// Most client addresses remembered per user: beyond this the oldest are
/// dropped (a user with more simultaneous connections is not realistic, and
/// memory stays bounded for every user).
const MAX_ADDRS_PER_USER: usize = 512;

/// `email -> recent client socket addresses`, fed from Xray's access log.
#[derive(Clone, Default)]
pub struct ConnTracker {
    inner: Arc<Mutex<HashMap<String, VecDeque<SocketAddr>>>>,
}

impl ConnTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one line of Xray's access log. Returns true if it was an access
    /// line (accepted or rejected), so the caller knows not to log it: access
    /// lines carry destinations and, when rejected, the offered UUID.
    pub fn ingest(&self, line: &str) -> bool {
        match parse_access_line(line) {
            AccessLine::Accepted { from, email } => {
                let mut map = self.inner.lock().expect("tracker lock");
                let q = map.entry(email.to_string()).or_default();
                if !q.contains(&from) {
                    if q.len() >= MAX_ADDRS_PER_USER {
                        q.pop_front();
                    }
                    q.push_back(from);
                }
                true
            }
            AccessLine::Other => true,
            AccessLine::NotAccess => false,
        }
    }

    /// Client addresses seen for `email`.
    pub fn addrs(&self, email: &str) -> Vec<SocketAddr> {
        let map = self.inner.lock().expect("tracker lock");
        map.get(email)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets `email` (after its sockets were cut).
    pub fn forget(&self, email: &str) {
        self.inner.lock().expect("tracker lock").remove(email);
    }

    /// Keeps only addresses that still have an established socket.
    pub fn retain_live(&self, live: &HashSet<SocketAddr>) {
        let mut map = self.inner.lock().expect("tracker lock");
        map.retain(|_, q| {
            q.retain(|a| live.contains(a));
            !q.is_empty()
        });
    }
}

enum AccessLine<'a> {
    Accepted {
        from: SocketAddr,
        email: &'a str,
    },
    /// An access line we do not need (rejected, no email, UDP...).
    Other,
    NotAccess,
}

/// Access lines look like
/// `2026/11/22 02:00:22.443353 from 1.2.3.4:60918 accepted tcp:host:80 [vless-reality -> direct] email: dev-1`.
fn parse_access_line(line: &str) -> AccessLine<'_> {
    let Some(rest) = line.split_once(" from ").map(|(_, r)| r) else {
        return AccessLine::NotAccess;
    };
    let Some((from, rest)) = rest.split_once(' ') else {
        return AccessLine::NotAccess;
    };
    if !(rest.starts_with("accepted ") || rest.starts_with("rejected ")) {
        return AccessLine::NotAccess;
    }
    let from = from.strip_prefix("tcp:").unwrap_or(from);
    let (Ok(from), Some(email)) = (
        from.parse::<SocketAddr>().map(unmap),
        rest.rsplit_once(" email: ").map(|(_, e)| e.trim()),
    ) else {
        return AccessLine::Other;
    };
    if rest.starts_with("accepted ") && !email.is_empty() {
        AccessLine::Accepted { from, email }
    } else {
        AccessLine::Other
    }
}

/// Destroys a user's live connections to the VLESS port.
#[derive(Clone)]
pub struct Cutter {
    /// The VLESS inbound's port: only server-side sockets on it are touched.
    pub vless_port: u16,
    /// Present when Xray's access log reaches us (supervised Xray).
    pub tracker: Option<ConnTracker>,
}

impl Cutter {
    /// The cutter the settings ask for: `None` with `cut_mode = "off"`.
    /// Pass the supervisor's tracker when vpnkeeper runs Xray itself.
    pub fn from_settings(
        settings: &crate::settings::XraySettings,
        tracker: Option<ConnTracker>,
    ) -> Option<Self> {
        match settings.cut_mode {
            crate::settings::CutMode::Off => None,
            crate::settings::CutMode::SsKill => Some(Self {
                vless_port: settings.port,
                tracker,
            }),
        }
    }

    /// Cuts `email`'s connections; returns how many sockets were destroyed.
    /// Call it after the user was removed from Xray, so a reconnect fails.
    /// `online_ips` is what `GetStatsOnlineIpList` returned *before* removal
    /// (used only when there is no tracker).
    pub async fn cut(&self, email: &str, online_ips: &[IpAddr]) -> Result<usize, XrayError> {
        let targets: Vec<Target> = match &self.tracker {
            Some(t) => t.addrs(email).into_iter().map(Target::Exact).collect(),
            None => online_ips.iter().copied().map(Target::Ip).collect(),
        };
        if targets.is_empty() {
            return Ok(0);
        }
        let mut killed = 0;
        // ss filters are parsed by a small yacc grammar; keep each one short.
        for chunk in targets.chunks(64) {
            killed += ss_kill(self.vless_port, chunk).await?;
        }
        if let Some(t) = &self.tracker {
            t.forget(email);
        }
        Ok(killed)
    }

    /// Client IPs to pass to [`Cutter::cut`] for `email`; only asks Xray when
    /// there is no tracker. Errors are logged and yield no IPs: failing to
    /// find connections must not block the revoke itself.
    pub async fn online_ips(&self, api: &XrayApi, email: &str) -> Vec<IpAddr> {
        if self.tracker.is_some() {
            return Vec::new();
        }
        match api.online_ips(email).await {
            Ok(m) => m.keys().filter_map(|ip| ip.parse().ok()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not list the revoked user's client IPs");
                Vec::new()
            }
        }
    }

    /// Drops tracker entries whose socket is gone, so memory follows the
    /// set of live connections.
    pub async fn prune(&self) -> Result<(), XrayError> {
        let Some(t) = &self.tracker else {
            return Ok(());
        };
        let live = established_peers(self.vless_port).await?;
        t.retain_live(&live);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Exact(SocketAddr),
    Ip(IpAddr),
}

fn ss_addr(t: Target) -> String {
    match t {
        Target::Exact(SocketAddr::V4(a)) => format!("{}:{}", a.ip(), a.port()),
        Target::Exact(SocketAddr::V6(a)) => format!("[{}]:{}", a.ip(), a.port()),
        Target::Ip(IpAddr::V4(ip)) => ip.to_string(),
        Target::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
    }
}

fn mapped_v6(t: Target) -> Option<Target> {
    match t {
        Target::Exact(SocketAddr::V4(a)) => Some(Target::Exact(SocketAddr::new(
            IpAddr::V6(a.ip().to_ipv6_mapped()),
            a.port(),
        ))),
        Target::Ip(IpAddr::V4(ip)) => Some(Target::Ip(IpAddr::V6(ip.to_ipv6_mapped()))),
        _ => None,
    }
}

/// `ss -K` on established TCP sockets with local port `port` and one of the
/// given peers. Returns the number of sockets ss reports as killed.
async fn ss_kill(port: u16, targets: &[Target]) -> Result<usize, XrayError> {
    let mut args: Vec<String> = ["-K", "-H", "-tn", "state", "established", "sport", "=", ""]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args[7] = format!(":{port}");
    args.push("and".into());
    args.push("(".into());
    let mut first = true;
    for t in targets {
        // Xray listening on 0.0.0.0 is a dual-stack socket in Go, so an IPv4
        // client may appear as ::ffff:a.b.c.d: match both spellings.
        for addr in [Some(ss_addr(*t)), mapped_v6(*t).map(ss_addr)]
            .into_iter()
            .flatten()
        {
            if !first {
                args.push("or".into());
            }
            first = false;
            args.push("dst".into());
            args.push(addr);
        }
    }
    args.push(")".into());
    let out = run_ss(&args).await?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

async fn established_peers(port: u16) -> Result<HashSet<SocketAddr>, XrayError> {
    let args: Vec<String> = ["-H", "-tn", "state", "established", "sport", "="]
        .iter()
        .map(|s| s.to_string())
        .chain([format!(":{port}")])
        .collect();
    let out = run_ss(&args).await?;
    // Columns without the state column: Recv-Q Send-Q Local Peer.
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|p| p.parse::<SocketAddr>().ok())
        .map(unmap)
        .collect())
}

/// `[::ffff:a.b.c.d]:p` -> `a.b.c.d:p`, so both spellings compare equal.
fn unmap(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}

async fn run_ss(args: &[String]) -> Result<String, XrayError> {
    let out = tokio::process::Command::new("ss")
        .args(args)
        .output()
        .await
        .map_err(|e| {
            XrayError::Cut(format!(
                "cannot run `ss` ({e}); install iproute2 to cut revoked users' live connections"
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(XrayError::Cut(format!(
            "`ss -K` failed ({}): {}; it needs CAP_NET_ADMIN and a kernel with CONFIG_INET_DIAG_DESTROY",
            out.status,
            err.split_whitespace().collect::<Vec<_>>().join(" ")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_are_parsed_and_classified() {
        let t = ConnTracker::new();
        assert!(t.ingest("2026/11/22 02:00:22.443353 from 1.2.3.4:60918 accepted tcp:example.com:443 [vless-reality -> direct] email: dev-1"));
        assert!(t.ingest("2026/11/22 02:00:22.443353 from tcp:[2001:db8::1]:5 accepted tcp:example.com:443 [vless-reality -> direct] email: dev-1"));
        assert!(t.ingest("2026/11/22 02:00:22.443353 from 127.0.0.1:60918 rejected  proxy/vless/encoding: invalid request user id: eb1329cd-b61a-448e-906b-f2997f58d193"));
        assert!(!t.ingest("2026/11/22 02:00:14.885875 [Warning] core: Xray 26.10.10 started"));
        assert_eq!(
            t.addrs("dev-1"),
            vec![
                "1.2.3.4:60918".parse().unwrap(),
                "[2001:db8::1]:5".parse().unwrap()
            ]
        );
        t.retain_live(&HashSet::from(["1.2.3.4:60918".parse().unwrap()]));
        assert_eq!(t.addrs("dev-1").len(), 1);
        t.forget("dev-1");
        assert!(t.addrs("dev-1").is_empty());
    }

    #[test]
    fn tracker_memory_is_bounded() {
        let t = ConnTracker::new();
        for port in 1..=(MAX_ADDRS_PER_USER as u16 + 10) {
            t.ingest(&format!(
                "x from 10.0.0.1:{port} accepted tcp:a:1 [in -> direct] email: u"
            ));
        }
        assert_eq!(t.addrs("u").len(), MAX_ADDRS_PER_USER);
    }

    #[test]
    fn ss_addresses_bracket_ipv6() {
        assert_eq!(
            ss_addr(Target::Exact("[::1]:80".parse().unwrap())),
            "[::1]:80"
        );
        assert_eq!(ss_addr(Target::Ip("10.0.0.1".parse().unwrap())), "10.0.0.1");
        assert_eq!(ss_addr(Target::Ip("::1".parse().unwrap())), "[::1]");
    }
}
