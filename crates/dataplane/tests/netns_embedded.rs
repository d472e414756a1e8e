//! The `embedded` backend (the AmneziaWG data plane in-process) driven through the
//! `WgBackend` trait like the reconciler drives it, against a wireguard-go client in
//! another namespace; and the uapi backend's full pass leaving an established session
//! alone (issue #12 item 6).

mod common;

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use vpnkeeper_dataplane::embedded::EmbeddedBackend;
use vpnkeeper_dataplane::uapi::UapiBackend;
use vpnkeeper_dataplane::{InterfaceSpec, PeerSpec, SecretString, WgBackend};

fn spec(lab: &Lab) -> InterfaceSpec {
    InterfaceSpec {
        name: lab.server_if.clone(),
        private_key: SecretString::new(lab.server_key.to_base64()),
        listen_port: SERVER_PORT,
        address: format!("{SERVER_TUN_IP}/24").parse().unwrap(),
        awg: None,
        mtu: Some(1420),
    }
}

fn client_peer(lab: &Lab) -> PeerSpec {
    let mut p = PeerSpec::new(
        lab.client_pub(),
        vec![format!("{CLIENT_TUN_IP}/32").parse().unwrap()],
    );
    p.preshared_key = Some(SecretString::new(lab.psk.to_base64()));
    p
}

fn fillers(n: usize) -> Vec<PeerSpec> {
    (0..n)
        .map(|i| {
            PeerSpec::new(
                random_key().public_from_private().to_base64(),
                vec![format!("10.67.{}.{}/32", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap()],
            )
        })
        .collect()
}

/// Run an async backend call on a thread inside namespace `ns` (the embedded backend
/// creates its TUN and socket in the namespace of the thread that brings it up).
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns");
        // SAFETY: setns on a valid namespace fd changes only this thread's namespace.
        assert_eq!(unsafe { libc_setns(file.as_raw_fd()) }, 0, "setns");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}

unsafe fn libc_setns(fd: i32) -> i32 {
    extern "C" {
        fn setns(fd: i32, nstype: i32) -> i32;
    }
    const CLONE_NEWNET: i32 = 0x4000_0000;
    unsafe { setns(fd, CLONE_NEWNET) }
}

fn handshake_of(st: &vpnkeeper_dataplane::InterfaceState, key: &str) -> Option<i64> {
    st.peers
        .iter()
        .find(|p| p.public_key == key)
        .and_then(|p| p.last_handshake_unix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend_converges_serves_wg_show_and_revokes() {
    if prerequisites("embedded_backend", &["wg", "wireguard-go"]).is_none() {
        return;
    }
    let lab = Lab::new("emb");
    // Serve the UAPI socket where `wg show` looks, so the lab's helpers read it.
    let backend = Arc::new(EmbeddedBackend::new(
        lab.server_if.clone(),
        Some("/var/run/wireguard".into()),
        None,
    ));
    let b = backend.clone();
    let s = spec(&lab);
    in_ns(&lab.ns_server.clone(), async move {
        b.ensure_interface(&s).await
    })
    .expect("ensure_interface");
    let mut desired = vec![client_peer(&lab)];
    desired.extend(fillers(300));
    let r = backend.reconcile(&desired).await.expect("reconcile");
    assert_eq!(r.added, 301);
    assert_eq!(
        lab.server_peers().len(),
        301,
        "wg show over the UAPI socket"
    );
    assert!(
        lab.ping_works(Duration::from_secs(10)),
        "ping through embedded"
    );

    let st = backend.state().await.unwrap();
    let hs = handshake_of(&st, &lab.client_pub()).expect("handshake");
    let me = st
        .peers
        .iter()
        .find(|p| p.public_key == lab.client_pub())
        .unwrap();
    assert!(me.rx_bytes > 0 && me.tx_bytes > 0 && me.preshared_key_set);
    assert!(me.endpoint.is_some());

    // A full pass (ensure_interface + reconcile) changes nothing and keeps the session.
    backend.ensure_interface(&spec(&lab)).await.unwrap();
    let r = backend.reconcile(&desired).await.unwrap();
    assert_eq!((r.added, r.updated, r.removed), (0, 0, 0));
    assert!(lab.ping_once(1), "session survives a full pass");
    let st = backend.state().await.unwrap();
    assert_eq!(handshake_of(&st, &lab.client_pub()), Some(hs));

    // Revoke: the peer leaves and its session with it, at once.
    desired.remove(0);
    let t = Instant::now();
    backend.reconcile(&desired).await.unwrap();
    let took = t.elapsed();
    assert!(!lab.ping_once(1), "revoked client still pings");
    assert!(took < Duration::from_secs(1), "revoke took {took:?}");
    assert_eq!(backend.state().await.unwrap().peers.len(), 300);
    let m = backend.metrics().unwrap();
    assert!(m.dropped_unknown_peer > 0, "{m:?}");
}

/// Issue #12 item 6: a full pass of the uapi backend must not re-send the private key
/// (boringtun drops every session when it is set) — the session stays up across it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uapi_full_pass_leaves_an_established_session_alone() {
    if prerequisites("uapi_full_pass", &["wg", "wireguard-go", "boringtun-cli"]).is_none() {
        return;
    }
    let mut lab = Lab::new("upass");
    lab.start_server(Impl::Boringtun);
    let backend = UapiBackend::new(
        lab.server_if.clone(),
        None,
        Some(lab.ns_server.clone()),
        Duration::from_secs(10),
    )
    .unwrap();
    backend.ensure_interface(&spec(&lab)).await.unwrap();
    let desired = vec![client_peer(&lab)];
    backend.reconcile(&desired).await.unwrap();
    assert!(lab.ping_works(Duration::from_secs(10)));
    let before = handshake_of(&backend.state().await.unwrap(), &lab.client_pub()).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..3 {
        backend.ensure_interface(&spec(&lab)).await.unwrap();
        backend.reconcile(&desired).await.unwrap();
    }
    assert_eq!(
        backend.private_key_sets(),
        1,
        "private_key re-sent on a full pass"
    );
    assert!(lab.ping_once(1), "the session was dropped by a full pass");
    let after = handshake_of(&backend.state().await.unwrap(), &lab.client_pub()).unwrap();
    // boringtun reports an age in whole seconds: allow one second of rounding.
    assert!(
        (after - before).abs() <= 1,
        "new handshake: {before} -> {after}"
    );
}
