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
