//! A bad config stops start-up with one line naming the key and the problem.

mod common;

use common::*;

fn run_fails(node: &Node, env: &[(&str, &str)]) -> String {
    let out = vk_env(&["run", "--data-dir", &node.data()], env);
    assert!(
        !out.status.success(),
        "run should have failed; stderr: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line expected, got:\n{err}");
    lines[0].to_string()
}

fn append_config(node: &Node, text: &str) {
    let path = node.data_dir().join("vpnkeeper.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(text);
    std::fs::write(path, config).unwrap();
}

#[test]
fn unknown_key_in_file_is_named() {
    let node = Node::init();
    append_config(&node, "\n[api2]\nlisten = \"127.0.0.1:1\"\n");
    let line = run_fails(&node, &[]);
    assert!(
        line.contains("api2") && line.contains("unknown key"),
        "{line}"
    );
}

#[test]
fn unknown_nested_key_in_file_is_named() {
    let node = Node::init();
    let path = node.data_dir().join("vpnkeeper.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[log]\n", "[log]\nlevle = \"debug\"\n");
    std::fs::write(&path, config).unwrap();
    let line = run_fails(&node, &[]);
    assert!(line.contains("log.levle"), "{line}");
    assert!(line.contains("vpnkeeper.toml"), "names the file: {line}");
}

#[test]
fn bad_value_from_env_names_field_and_variable() {
    let node = Node::init();
    let line = run_fails(&node, &[("VPNKEEPER_API__LISTEN", "not-an-address")]);
    assert!(line.contains("api.listen"), "{line}");
    assert!(line.contains("VPNKEEPER_API__LISTEN"), "{line}");

    let line = run_fails(&node, &[("VPNKEEPER_WIREGUARD__BACKEND", "kernel-magic")]);
    assert!(line.contains("wireguard.backend"), "{line}");
    assert!(line.contains("uapi"), "lists the valid choices: {line}");

    let line = run_fails(&node, &[("VPNKEEPER_WIREGUARD__LISTEN_PORT", "70000")]);
    assert!(line.contains("wireguard.listen_port"), "{line}");

    let line = run_fails(
        &node,
        &[("VPNKEEPER_WIREGUARD__ADDRESS_POOL", "10.0.0.0/32")],
    );
    assert!(line.contains("wireguard.address_pool"), "{line}");

    let line = run_fails(&node, &[("VPNKEEPER_NOPE__THING", "1")]);
    assert!(line.contains("nope"), "{line}");
}

#[test]
fn bad_value_in_file_is_named() {
    let node = Node::init();
    let path = node.data_dir().join("vpnkeeper.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("listen_port = 51820", "listen_port = \"many\"");
    std::fs::write(&path, config).unwrap();
    let line = run_fails(&node, &[]);
    assert!(line.contains("wireguard.listen_port"), "{line}");
}

#[test]
fn env_override_takes_effect() {
    let mut node = Node::init();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    node.api_port = port;
    node.start_env(&[
        ("VPNKEEPER_API__LISTEN", &listen),
        ("VPNKEEPER_LOG__FORMAT", "json"),
    ]);
    let health = http_get(&format!("http://{listen}/health")).unwrap();
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    assert!(node.log().lines().any(|l| l.starts_with('{')), "json logs");
}

#[test]
fn missing_config_file_with_config_flag() {
    let out = vk(&["run", "--config", "/nonexistent/dir/vpnkeeper.toml"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn bad_amneziawg_parameters_are_named() {
    let node = Node::init();
    append_config(
        &node,
        "\n[wireguard.awg]\njc = 4\njmin = 900\njmax = 100\ns1 = 20\ns2 = 30\nh1 = 11\nh2 = 12\nh3 = 13\nh4 = 14\n",
    );
    let line = run_fails(&node, &[]);
    assert!(line.contains("wireguard.awg.jmin"), "{line}");

    let node = Node::init();
    let line = run_fails(&node, &[("VPNKEEPER_WIREGUARD__AMNEZIAWG_VERSION", "3.0")]);
    assert!(line.contains("wireguard.amneziawg_version"), "{line}");
    assert!(line.contains("2.0"), "lists the valid versions: {line}");

    let node = Node::init();
    append_config(
        &node,
        "\n[wireguard.awg]\njc = 4\njmin = 10\njmax = 100\ns1 = 20\ns2 = 30\nh1 = 11\nh2 = 12\nh3 = 13\nh4 = 14\njunk = 1\n",
    );
    let line = run_fails(&node, &[]);
    assert!(
        line.contains("junk"),
        "a misspelt parameter is refused: {line}"
    );
}

#[test]
fn manage_nat_with_amnezia_docker_is_refused() {
    let node = Node::init();
    let line = run_fails(
        &node,
        &[
            ("VPNKEEPER_WIREGUARD__BACKEND", "amnezia-docker"),
            ("VPNKEEPER_WIREGUARD__MANAGE_NAT", "true"),
        ],
    );
    assert!(
        line.contains("manage_nat") && line.contains("amnezia-docker"),
        "{line}"
    );
}
