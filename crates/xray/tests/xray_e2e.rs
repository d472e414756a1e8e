//! End to end against a real Xray-core (PyPI build through
//! scripts/xray-run.py): issue a VLESS+Reality user, fetch a page through a
//! second Xray acting as the user's client, count traffic, revoke (new
//! connections refused AND a download in progress cut, while another user's
//! download on the same client IP survives), restart Xray (users come back
//! through the reconciler), and refuse bad settings and configs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rand::rngs::OsRng;
use vpnkeeper_xray::config::{install_config, render_server_config, AccessLog, BACKUP_FILE};
use vpnkeeper_xray::settings::{generate_reality_keypair, parse_uuid, CutMode, Secret};
use vpnkeeper_xray::{
    reconcile_on_start, write_validated_config, Cutter, Supervisor, SupervisorConfig, UserSync,
    XrayApi, XrayError, XrayNode, XraySettings, XrayUser,
};

fn settings(dir: &std::path::Path, target_port: u16) -> XraySettings {
    let kp = generate_reality_keypair(&mut OsRng);
    XraySettings {
        listen: "127.0.0.1".into(),
        port: free_port(),
        reality_private_key: kp.private_key,
        reality_public_key: kp.public_key,
        short_ids: vec!["6ba85179e30d4fc2".into(), "".into()],
        server_names: vec!["localhost".into()],
        dest: format!("127.0.0.1:{target_port}"),
        fingerprint: "chrome".into(),
        api_addr: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        inbound_tag: "vless-reality".into(),
        // Xray 26's freedom outbound refuses loopback targets otherwise.
        allow_private_targets: vec!["127.0.0.1/32".into()],
        conn_idle_secs: 300,
        command: Some(xray_command()),
        config_dir: dir.join("xray"),
        cut_mode: CutMode::SsKill,
    }
}

async fn wait_generation(
    starts: &mut tokio::sync::watch::Receiver<vpnkeeper_xray::XrayStart>,
    at_least: u64,
) -> vpnkeeper_xray::XrayStart {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let s = *starts.borrow_and_update();
            if s.generation >= at_least {
                return s;
            }
            starts.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("xray did not reach start #{at_least} within 30 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vless_reality_issue_revoke_restart() {
    if !require_tools("vless_reality_issue_revoke_restart") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_target, target_port) = reality_target(dir.path()).await;
    let http = http_server().await;
    let s = settings(dir.path(), target_port);
    s.validate().unwrap();

    // The config file Xray starts from holds no users: everything below
    // reaches Xray through the API, so the restart step proves the
    // reconciler (not the file) restores users.
    let cfg_path = write_validated_config(&s, &[], AccessLog::Stdout)
        .await
        .unwrap();
    let sup = Supervisor::spawn(SupervisorConfig::new(
        s.command.clone().unwrap(),
        cfg_path,
        s.api_addr,
    ))
    .unwrap();
    let mut starts = sup.starts();
    let first = wait_generation(&mut starts, 1).await;

    let cutter = Cutter {
        vless_port: s.port,
        tracker: Some(sup.tracker()),
    };
    let api = XrayApi::new(s.api_addr);
    let node = XrayNode::spawn(api.clone(), &s.inbound_tag, Some(cutter.clone()));
    node.health().await.expect("xray API answers");

    let alice = XrayUser::vision("dev-alice", uuid::Uuid::new_v4());
    let bob = XrayUser::vision("dev-bob", uuid::Uuid::new_v4());
    let carol = XrayUser::vision("dev-carol", uuid::Uuid::new_v4());
    let desired = Arc::new(Mutex::new(vec![alice.clone(), bob.clone(), carol.clone()]));
    let _restorer = reconcile_on_start(node.clone(), sup.starts(), {
        let desired = desired.clone();
        move || desired.lock().unwrap().clone()
    });

    // Issue: both users added through the API; a second run is a no-op.
    let want = desired.lock().unwrap().clone();
    let r = node.reconcile(want).await.unwrap();
    // The restorer may have raced us on start #1; together they added both.
    assert_eq!(r.added + r.unchanged, 3, "{r:?}");
    let want = desired.lock().unwrap().clone();
    let r = node.reconcile(want).await.unwrap();
    assert_eq!((r.added, r.removed, r.unchanged), (0, 0, 3), "{r:?}");
    let mut users = node.users().await.unwrap();
    users.sort_by(|a, b| a.email.cmp(&b.email));
    assert_eq!(users, vec![alice.clone(), bob.clone(), carol.clone()]);

    let link_a =
        vpnkeeper_xray::link::for_node(&s, "127.0.0.1", alice.uuid, "Alice phone").to_uri();
    let link_b = vpnkeeper_xray::link::for_node(&s, "127.0.0.1", bob.uuid, "Bob laptop").to_uri();
    let (_ca, socks_a) = xray_client(dir.path(), &link_a, "alice", None).await;
    let (_cb, socks_b) = xray_client(dir.path(), &link_b, "bob", None).await;
    let link_c = vpnkeeper_xray::link::for_node(&s, "127.0.0.1", carol.uuid, "Carol").to_uri();
    let (_cc, socks_c) = xray_client(dir.path(), &link_c, "carol", None).await;
    let page = format!("http://127.0.0.1:{http}/");
    assert_eq!(fetch(socks_a, &page).await.unwrap(), PAGE);
    assert_eq!(fetch(socks_b, &page).await.unwrap(), PAGE);

    // Traffic: counted per user, and reset on read so the next read is a delta.
    let t = node.collect_traffic().await.unwrap();
    let ta = t.get("dev-alice").copied().unwrap_or_default();
    assert!(ta.uplink > 0 && ta.downlink >= PAGE.len() as u64, "{t:?}");
    let t2 = node.collect_traffic().await.unwrap();
    assert_eq!(
        t2.get("dev-alice").map_or(0, |t| t.uplink + t.downlink),
        0,
        "{t2:?}"
    );

    // Two long downloads in progress, both from 127.0.0.1.
    let slow = format!("http://127.0.0.1:{http}/slow");
    let (out_a, out_b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    let mut dl_a = start_download(socks_a, &slow, &out_a);
    let mut dl_b = start_download(socks_b, &slow, &out_b);
    tokio::time::timeout(Duration::from_secs(15), async {
        while file_len(&out_a) < 8 * 1024 || file_len(&out_b) < 8 * 1024 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("both downloads are flowing");

    // Control: Xray alone does not cut. Carol removed through the API only
    // is refused for new connections, but her open download keeps flowing
    // until her sockets are destroyed.
    let out_c = dir.path().join("c.bin");
    let mut dl_c = start_download(socks_c, &slow, &out_c);
    tokio::time::timeout(Duration::from_secs(15), async {
        while file_len(&out_c) < 8 * 1024 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("carol's download is flowing");
    desired.lock().unwrap().retain(|u| u.email != "dev-carol");
    api.remove_user(&s.inbound_tag, "dev-carol").await.unwrap();
    assert!(
        fetch(socks_c, &page).await.is_err(),
        "removed user still connects"
    );
    let before = file_len(&out_c);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        dl_c.try_wait().unwrap().is_none(),
        "xray cut carol by itself"
    );
    assert!(file_len(&out_c) > before, "carol's download stalled");
    let cut = cutter.cut("dev-carol", &[]).await.unwrap();
    assert!(cut >= 1);
    let st = tokio::time::timeout(Duration::from_secs(5), dl_c.wait())
        .await
        .expect("carol's download survived the cut")
        .unwrap();
    assert!(!st.success());

    // Revoke Alice, the real way: reconcile removes and cuts.
    desired.lock().unwrap().retain(|u| u.email != "dev-alice");
    let want = desired.lock().unwrap().clone();
    let r = node.reconcile(want).await.unwrap();
    assert_eq!(r.removed, 1, "{r:?}");
    assert!(r.cut_sockets >= 1, "no live socket was cut: {r:?}");
    println!("revoke: {r:?}");
    let revoked_at = std::time::Instant::now();

    // Her download in progress is cut (curl fails long before the ~30 s
    // the server needs to send everything)...
    let status = tokio::time::timeout(Duration::from_secs(5), dl_a.wait())
        .await
        .expect("revoked user's download still running 5 s after revoke")
        .unwrap();
    assert!(!status.success(), "revoked download completed");
    println!(
        "alice's download cut {:?} after revoke at {} of {} bytes",
        revoked_at.elapsed(),
        file_len(&out_a),
        SLOW_CHUNKS * 1024
    );
    assert!(file_len(&out_a) < (SLOW_CHUNKS * 1024) as u64);
    // ...and her new connections are refused.
    assert!(
        fetch(socks_a, &page).await.is_err(),
        "revoked user still gets through"
    );

    // Without the access log (Xray not supervised by us) the cut falls back
    // to the client IPs Xray reports for the user (GetStatsOnlineIpList).
    let dave = XrayUser::vision("dev-dave", uuid::Uuid::new_v4());
    let by_ip = XrayNode::spawn(
        api.clone(),
        &s.inbound_tag,
        Some(Cutter {
            vless_port: s.port,
            tracker: None,
        }),
    );
    by_ip.add_user(dave.clone()).await.unwrap();
    let link_d = vpnkeeper_xray::link::for_node(&s, "127.0.0.1", dave.uuid, "Dave").to_uri();
    let (_cd, socks_d) = xray_client(dir.path(), &link_d, "dave", Some("127.0.0.2")).await;
    let out_d = dir.path().join("d.bin");
    let mut dl_d = start_download(socks_d, &slow, &out_d);
    tokio::time::timeout(Duration::from_secs(15), async {
        while file_len(&out_d) < 8 * 1024 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("dave's download is flowing");
    let cut = by_ip.revoke("dev-dave").await.unwrap();
    assert!(cut >= 1, "nothing cut by client IP");
    let st = tokio::time::timeout(Duration::from_secs(5), dl_d.wait())
        .await
        .expect("dave's download survived the by-IP cut")
        .unwrap();
    assert!(!st.success());
    assert!(fetch(socks_d, &page).await.is_err());

    // Bob's download, same client IP, was not touched and keeps flowing.
    let before = file_len(&out_b);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        dl_b.try_wait().unwrap().is_none(),
        "bob's download was cut too"
    );
    assert!(file_len(&out_b) > before, "bob's download stalled");
    let _ = dl_b.kill().await;
    assert_eq!(fetch(socks_b, &page).await.unwrap(), PAGE);

    // Restart: kill Xray hard. The supervisor starts it again from the
    // config file (no users in it); the reconciler re-adds Bob via the API.
    let pid = first.pid.expect("supervised xray has a pid");
    // SAFETY: kill(2) on the pid of the supervised Xray child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
    let second = wait_generation(&mut starts, 2).await;
    assert_ne!(second.pid, first.pid);
    let restored = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(u) = node.users().await {
                if u == vec![bob.clone()] {
                    return u;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("bob restored after restart");
    assert_eq!(restored.len(), 1);
    assert_eq!(
        fetch(socks_b, &page).await.unwrap(),
        PAGE,
        "link works again"
    );
    assert!(
        fetch(socks_a, &page).await.is_err(),
        "alice came back with the restart"
    );

    sup.shutdown().await;
    assert!(
        node.health().await.is_err(),
        "xray still answers after supervisor shutdown"
    );
}

#[tokio::test]
async fn validation_refuses_bad_input_and_bad_configs_never_reach_xray() {
    // Settings: malformed shortId, port, UUID are refused naming the field.
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 443);
    s.short_ids = vec!["abc".into()];
    let e = s.validate().unwrap_err();
    assert_eq!(e.field, "short_ids");
    assert_eq!(
        e.to_string(),
        "xray setting `short_ids`: \"abc\" must have an even number of hex chars"
    );
    let mut s = settings(dir.path(), 443);
    s.port = 0;
    assert!(s.validate().unwrap_err().to_string().contains("`port`"));
    let e = parse_uuid("uuid", "1234-not-a-uuid").unwrap_err();
    assert_eq!(
        e.to_string(),
        "xray setting `uuid`: is not a valid UUID (8-4-4-4-12 hex)"
    );
    let mut s = settings(dir.path(), 443);
    s.reality_private_key = Secret::new("short");
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.contains("reality_private_key") && !e.contains("short\""),
        "{e}"
    );

    // Bad links are refused too.
    assert_eq!(
        vpnkeeper_xray::link::parse("vless://nope@h:1?security=reality&pbk=x&sid=00")
            .unwrap_err()
            .field,
        "uuid"
    );

    if !require_tools("validation_refuses_bad_input_and_bad_configs_never_reach_xray") {
        return;
    }
    // A good config passes the test instance and is written.
    let s = settings(dir.path(), 443);
    let users = [XrayUser::vision("dev-1", uuid::Uuid::new_v4())];
    let good = render_server_config(&s, &users, AccessLog::Off).unwrap();
    let cmd = s.command.as_deref();
    let path = install_config(&good, cmd, &s.config_dir).await.unwrap();
    let written = std::fs::read(&path).unwrap();

    // A config Xray refuses (here: an unknown protocol) is caught by the
    // test instance (exit 23) and never replaces the good file.
    let mut bad = good.clone();
    bad["inbounds"][1]["protocol"] = "vlesss".into();
    let err = install_config(&bad, cmd, &s.config_dir).await.unwrap_err();
    assert!(matches!(err, XrayError::ConfigRejected(_)), "{err}");
    assert!(err.to_string().contains("code 23"), "{err}");
    assert!(!err.to_string().contains('\n'));
    assert_eq!(std::fs::read(&path).unwrap(), written);
    assert!(!s.config_dir.join(BACKUP_FILE).exists());

    // The wrapper's own `-test` agrees.
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, serde_json::to_vec(&bad).unwrap()).unwrap();
    let st = std::process::Command::new("python3")
        .arg(wrapper())
        .args(["run", "-test", "-c"])
        .arg(&bad_path)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(23));
    let st = std::process::Command::new("python3")
        .arg(wrapper())
        .args(["run", "-test", "-c"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

/// The Xray service's two passes against a real Xray: a change pass sends only the
/// difference to what the last pass left (so drift made behind its back survives it), and a
/// full pass reads Xray's users back and repairs that drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_passes_send_the_difference_and_full_passes_repair_drift() {
    if !require_tools("change_passes_send_the_difference_and_full_passes_repair_drift") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 9);
    s.cut_mode = CutMode::Off;
    let cfg_path = write_validated_config(&s, &[], AccessLog::Off)
        .await
        .unwrap();
    let sup = Supervisor::spawn(SupervisorConfig::new(
        s.command.clone().unwrap(),
        cfg_path,
        s.api_addr,
    ))
    .unwrap();
    wait_generation(&mut sup.starts(), 1).await;
    let node = XrayNode::spawn(XrayApi::new(s.api_addr), &s.inbound_tag, None);
    node.health().await.expect("xray API answers");
    let emails = |mut users: Vec<XrayUser>| {
        users.sort_by(|a, b| a.email.cmp(&b.email));
        users.into_iter().map(|u| u.email).collect::<Vec<_>>()
    };
    let users: Vec<XrayUser> = (0..5)
        .map(|i| XrayUser::vision(format!("dev-{i}"), uuid::Uuid::new_v4()))
        .collect();

    let mut sync = UserSync::new(node.clone());
    // No base yet: the first change pass is a full one.
    let r = sync.change_pass(users.clone()).await.unwrap();
    assert_eq!((r.added, r.removed), (5, 0));
    assert_eq!(emails(node.users().await.unwrap()).len(), 5);

    // Drift behind the service's back: dev-0 removed directly.
    node.revoke("dev-0").await.unwrap();
    // One change: dev-4 revoked, dev-5 added, dev-1's UUID rotated.
    let mut next = users[..4].to_vec();
    next[1] = XrayUser::vision("dev-1", uuid::Uuid::new_v4());
    next.push(XrayUser::vision("dev-5", uuid::Uuid::new_v4()));
    let r = sync.change_pass(next.clone()).await.unwrap();
    assert_eq!((r.added, r.removed), (2, 2), "only the difference is sent");
    assert_eq!(
        emails(node.users().await.unwrap()),
        ["dev-1", "dev-2", "dev-3", "dev-5"],
        "the fast path does not read Xray, so the drift (dev-0) is still there"
    );
    let rotated = node.users().await.unwrap();
    assert!(rotated.contains(&next[1]), "dev-1 has its new UUID");

    // Nothing changed: nothing is sent.
    let r = sync.change_pass(next.clone()).await.unwrap();
    assert_eq!((r.added, r.removed, r.unchanged), (0, 0, 5));

    // The timer's full pass reads Xray back and repairs the drift.
    let r = sync.full_pass(next.clone()).await.unwrap();
    assert_eq!((r.added, r.removed), (1, 0));
    assert_eq!(emails(node.users().await.unwrap()), emails(next));
    sup.shutdown().await;
}
