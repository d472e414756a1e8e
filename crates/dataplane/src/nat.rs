//! `[wireguard] manage_nat = true`: forwarding and masquerade for full-tunnel clients.
//!
//! The node owns one nftables table, `inet vpnkeeper`, and nothing else: a forward chain
//! that accepts traffic from the VPN interface and replies to it (nothing unsolicited
//! reaches clients), and a postrouting chain that
//! masquerades the address pool out of every other interface. The table is replaced as a
//! whole in one `nft -f -` transaction (create-if-missing, delete, re-create), so applying
//! it again is harmless and other tables are never touched. `net.ipv4.ip_forward` (and
//! IPv6 forwarding for an IPv6 pool) is switched on. The table is left in place at
//! shutdown: clients reconnecting after a restart keep their route out.
//!
//! [`NatBackend`] wraps any backend and applies the rules after its `ensure_interface`,
//! in the backend's network namespace; a failure is one warning line and is retried on
//! the next pass, never a failed pass (the tunnel itself works without NAT).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;

use crate::error::BackendError;
use crate::exec::Runner;
use crate::model::{InterfaceSpec, InterfaceState, PeerDiff, PeerSpec};
use crate::{BackendHealth, SyncReport, WgBackend};

/// The one table this module writes.
pub const TABLE: &str = "vpnkeeper";

/// The ruleset for `iface` and the pool `pool` (any address of it with its prefix), as one
/// atomic `nft -f` script that replaces only `table inet vpnkeeper`.
pub fn ruleset(iface: &str, pool: IpNet) -> String {
    let family = match pool {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    };
    let net = pool.trunc();
    format!(
        "table inet {TABLE} {{}}\n\
         delete table inet {TABLE}\n\
         table inet {TABLE} {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{iface}\" accept\n\
         \t\toifname \"{iface}\" ct state established,related accept\n\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\t{family} saddr {net} oifname != \"{iface}\" counter masquerade\n\
         \t}}\n\
         }}\n"
    )
}

/// Switch forwarding on and (re)load the table, in `netns` if set.
pub async fn apply(netns: Option<&str>, iface: &str, pool: IpNet) -> Result<(), BackendError> {
    let runner = Runner {
        netns: netns.map(str::to_string),
        timeout: Duration::from_secs(10),
    };
    let hint = "install nftables (apt-get install nftables) or set wireguard.manage_nat = false";
    let forward = match pool {
        IpNet::V4(_) => "net.ipv4.ip_forward=1",
        IpNet::V6(_) => "net.ipv6.conf.all.forwarding=1",
    };
    runner
        .run(
            "sysctl",
            &["-q", "-w", forward],
            None,
            "apt-get install procps",
        )
        .await?;
    let script = ruleset(iface, pool);
    runner
        .run("nft", &["-f", "-"], Some(script.as_bytes()), hint)
        .await?;
    Ok(())
}

/// A backend that also keeps the NAT table in place for its interface.
#[derive(Debug)]
pub struct NatBackend {
    inner: Arc<dyn WgBackend>,
    netns: Option<String>,
    /// (interface, pool) of the last successful apply: a pass with the same spec does not
    /// run nft again.
    applied: Mutex<Option<(String, IpNet)>>,
}

impl NatBackend {
    pub fn new(inner: Arc<dyn WgBackend>, netns: Option<String>) -> Self {
        NatBackend {
            inner,
            netns,
            applied: Mutex::new(None),
        }
    }

    async fn ensure_nat(&self, spec: &InterfaceSpec) {
        let want = (spec.name.clone(), spec.address);
        let done = self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if done.as_ref() == Some(&want) {
            return;
        }
        match apply(self.netns.as_deref(), &spec.name, spec.address).await {
            Ok(()) => {
                tracing::info!(iface = %spec.name, pool = %spec.address.trunc(), "NAT for full-tunnel clients in place (nft table inet vpnkeeper)");
                *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(want);
            }
            Err(e) => tracing::warn!("wireguard.manage_nat: {e}; full-tunnel clients have no route out until it works (retried every pass)"),
        }
    }
}

#[async_trait::async_trait]
impl WgBackend for NatBackend {
    async fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<(), BackendError> {
        self.inner.ensure_interface(spec).await?;
        self.ensure_nat(spec).await;
        Ok(())
    }
    async fn state(&self) -> Result<InterfaceState, BackendError> {
        self.inner.state().await
    }
    async fn apply(&self, diff: &PeerDiff) -> Result<(), BackendError> {
        self.inner.apply(diff).await
    }
    async fn health(&self) -> BackendHealth {
        self.inner.health().await
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.inner.counters()
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn incremental(&self) -> bool {
        self.inner.incremental()
    }
    async fn reconcile(&self, desired: &[PeerSpec]) -> Result<SyncReport, BackendError> {
        self.inner.reconcile(desired).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_replaces_only_its_table_and_masquerades_the_pool() {
        let r = ruleset("awg0", "10.8.0.1/24".parse().unwrap());
        assert!(r.starts_with("table inet vpnkeeper {}\ndelete table inet vpnkeeper\n"));
        assert!(r.contains("ip saddr 10.8.0.0/24 oifname != \"awg0\" counter masquerade"));
        assert!(
            r.contains("iifname \"awg0\" accept")
                && r.contains("oifname \"awg0\" ct state established,related accept")
        );
        assert_eq!(r.matches("table inet").count(), 3, "{r}");
        let r6 = ruleset("wg1", "fd00::1/64".parse().unwrap());
        assert!(r6.contains("ip6 saddr fd00::/64"));
    }
}
