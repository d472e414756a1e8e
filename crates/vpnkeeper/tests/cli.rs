//! The CLI forms of the spine issue, run against the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_run_user_device_status_and_graceful_stop() {
    let mut node = Node::init();
    assert!(
        node.token.starts_with("vk_"),
        "init prints the admin token: {}",
        node.token
    );
    let data = node.data_dir();
    assert_eq!(
        std::fs::read_to_string(data.join("admin.token"))
            .unwrap()
            .trim(),
        node.token
    );
    assert_eq!(mode(&data.join("admin.token")), 0o600);
    assert_eq!(mode(&data.join("cluster.key")), 0o600);
    assert!(data.join("vpnkeeper.toml").exists());

    // A second init of the same directory is refused and changes nothing.
    let again = vk(&["init", "--data-dir", &node.data()]);
    assert!(!again.status.success());
    let err = stderr(&again);
    assert!(err.contains("already initialised"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");

    // No node running yet: one line saying so.
    let out = node.cli(&["status"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no vpnkeeper node is running"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    node.start();

    let out = node.cli(&["user", "add", "alice", "--telegram-id", "4242"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alice: i64 = stdout(&out).trim().parse().expect("user add prints the id");
    let out = node.cli(&["user", "add", "bob"]);
    let bob: i64 = stdout(&out).trim().parse().unwrap();
    assert_ne!(alice, bob);

    // Bad input: clear one-line errors, nothing created.
    let out = node.cli(&["user", "add", "alice"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already taken"), "{}", stderr(&out));
    let out = node.cli(&["user", "add", "x", "--telegram-id", "-5"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("telegram_id"), "{}", stderr(&out));

    let out = node.cli(&["user", "list"]);
    let list = stdout(&out);
    assert!(
        list.contains("alice") && list.contains("bob") && list.contains("4242"),
        "{list}"
    );

    let out = node.cli(&[
        "device",
        "add",
        "alice",
        "--type",
        "phone",
        "--protocol",
        "awg",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let device_id: i64 = stderr(&out).trim().parse().expect("device id on stderr");
    assert!(!stdout(&out).trim().is_empty(), "config on stdout");
    // Asking again returns the same device, not a new peer.
    let out = node.cli(&["device", "add", &alice.to_string(), "--type", "phone"]);
    assert_eq!(stderr(&out).trim().parse::<i64>().unwrap(), device_id);
    // This node serves AmneziaWG (the default flavour): a plain WireGuard client could not
    // complete a handshake with it, so such a device is refused with a hint, and nothing is
    // created.
    let out = node.cli(&[
        "device",
        "add",
        "bob",
        "--type",
        "laptop",
        "--protocol",
        "wireguard",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("use protocol `awg`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = node.cli(&["device", "add", "bob", "--type", "laptop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bob_device: i64 = stderr(&out).trim().parse().unwrap();
    assert_ne!(bob_device, device_id);

    let out = node.cli(&["device", "add", "nobody", "--type", "phone"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));

    let out = node.cli(&["device", "list"]);
    let list = stdout(&out);
    assert!(
        list.contains("10.8.0.2/32") && list.contains("10.8.0.3/32"),
        "{list}"
    );

    let out = node.cli(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = stdout(&out);
    assert!(status.contains("role          leader"), "{status}");
    assert!(status.contains("users         2 (2 enabled)"), "{status}");
    assert!(
        status.contains("devices       2 active, 0 revoked"),
        "{status}"
    );
    assert!(status.contains("last applied"), "{status}");

    let out = node.cli(&["device", "revoke", &device_id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = node.cli(&["status"]);
    assert!(stdout(&out).contains("devices       1 active, 1 revoked"));

    // SIGTERM: exit code 0, and the state is there after a restart.
    let status = node.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        node.log()
    );
    assert!(node.log().contains("stopped cleanly"));
    node.start();
    let out = node.cli(&["status"]);
    assert!(
        stdout(&out).contains("users         2 (2 enabled)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn secrets_stay_out_of_logs_and_api_views() {
    let mut node = Node::init();
    node.start();
    let out = node.cli(&["user", "add", "carol"]);
    assert!(out.status.success());
    let out = node.cli(&["device", "add", "carol", "--type", "laptop"]);
    assert!(out.status.success());
    let key = std::fs::read_to_string(node.data_dir().join("cluster.key")).unwrap();
    let nodes = http_get(&format!("{}/health", node.base())).unwrap();
    node.terminate();
    let log = node.log();
    for secret in [key.trim(), node.token.as_str()] {
        assert!(!log.contains(secret), "a secret leaked into the log");
        assert!(!nodes.contains(secret));
    }
    assert!(
        !log.contains("v1:"),
        "sealed values do not belong in logs either"
    );
}

/// `wireguard.amneziawg_version` picks the generation of fresh parameters, and
/// `[wireguard.awg]` replaces them with the operator's own, which every config then carries.
#[test]
fn amneziawg_version_and_operator_parameters_reach_the_configs() {
    let mut node = Node::init();
    node.start_env(&[("VPNKEEPER_WIREGUARD__AMNEZIAWG_VERSION", "2.0")]);
    assert!(node.cli(&["user", "add", "dora"]).status.success());
    let out = node.cli(&["device", "add", "dora", "--type", "phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = stdout(&out);
    for key in ["S3 = ", "S4 = ", "H1 = "] {
        assert!(
            conf.contains(key),
            "AmneziaWG 2.0 config lacks {key}: {conf}"
        );
    }
    let h1 = conf.lines().find_map(|l| l.strip_prefix("H1 = ")).unwrap();
    assert!(h1.contains('-'), "2.0 headers are ranges: {h1}");
    node.terminate();

    // The operator's own parameters replace the generated ones, in every config.
    let path = node.data_dir().join("vpnkeeper.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(
        "\n[wireguard.awg]\njc = 5\njmin = 50\njmax = 1000\ns1 = 68\ns2 = 149\nh1 = 1106457265\nh2 = 249455488\nh3 = 1209847463\nh4 = 1646644382\n",
    );
    std::fs::write(&path, config).unwrap();
    node.start();
    let out = node.cli(&["device", "add", "dora", "--type", "phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = stdout(&out);
    for line in [
        "Jc = 5",
        "Jmin = 50",
        "Jmax = 1000",
        "S1 = 68",
        "S2 = 149",
        "H4 = 1646644382",
    ] {
        assert!(conf.lines().any(|l| l == line), "missing `{line}`: {conf}");
    }
    assert!(!conf.contains("S3 = "), "{conf}");
}
