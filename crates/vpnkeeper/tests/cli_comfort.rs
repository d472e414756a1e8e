//! CLI comfort against the real binary: a scripted loop of `user add` past the node's write
//! rate limit slows down (waits for `Retry-After`) instead of failing.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_user_add_loop_past_the_write_limit_waits_and_succeeds() {
    let mut node = Node::init();
    // 60 writes a minute: one more token per second once the burst is spent.
    node.start_env(&[("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "60")]);
    let start = Instant::now();
    for n in 0..64 {
        let out = node.cli(&["user", "add", &format!("bulk-{n}")]);
        assert!(
            out.status.success(),
            "user add {n} failed: {}",
            stderr(&out)
        );
    }
    assert_eq!(api_get(&node, "/api/v1/users?limit=1")["total"], 64);
    // The limit was really hit (the node answered 429s) and the CLI waited them out.
    let metrics = api_text(&node, "/metrics");
    let limited: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("vpnkeeper_http_requests_total")
                && l.contains("status=\"429\"")
                && l.contains("POST")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(limited >= 1.0, "no 429 answered; metrics:\n{metrics}");
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_clap_definitions() {
    let out = vk(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(
        script.contains("complete -F") && script.contains("vpnkeeper"),
        "{script}"
    );
    for verb in [
        "import",
        "backup",
        "restore",
        "marzban",
        "--passphrase-file",
    ] {
        assert!(script.contains(verb), "bash completion lacks {verb}");
    }
    let out = vk(&["completions", "zsh"]);
    assert!(out.status.success() && stdout(&out).starts_with("#compdef vpnkeeper"));
    let out = vk(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let man = stdout(&out);
    assert!(man.contains(".TH vpnkeeper"), "{man}");
    assert!(man.contains("restore"), "the man page lists the verbs");
    let out = vk(&["completions", "tcsh"]);
    assert!(!out.status.success());
}

#[test]
fn list_verbs_print_json_and_help_documents_exit_codes() {
    let mut node = Node::init();
    node.start();
    assert!(node.cli(&["user", "add", "alice"]).status.success());
    let out = node.cli(&["user", "list", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let users: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(users[0]["name"], "alice");
    let out = node.cli(&["device", "list", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap(),
        serde_json::json!([])
    );
    // The table stays the default.
    assert!(stdout(&node.cli(&["user", "list"])).starts_with("ID"));

    let help = stdout(&vk(&["--help"]));
    assert!(
        help.contains("Exit codes:") && help.contains("2  bad command line"),
        "{help}"
    );
    // ... and they hold: a refused verb is 1 with one line, a bad flag is 2.
    let out = node.cli(&["user", "add", "alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert_eq!(
        vk(&["user", "list", "--output", "xml"]).status.code(),
        Some(2)
    );
}
