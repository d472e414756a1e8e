//! `vpnkeeper promo create|list|disable` and `vpnkeeper balance show|credit|debit` against
//! the real binary and a running node (issue #16).

mod common;

use common::*;

/// A failed verb: exit 1, one line on stderr containing `needle`.
fn refused(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "should fail: {}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn promo_and_balance_verbs() {
    let mut node = Node::init();
    node.start();
    let code = ok(node.cli(&[
        "promo",
        "create",
        "summer",
        "--discount",
        "25",
        "--max-uses",
        "3",
        "--valid-days",
        "30",
    ]));
    assert_eq!(code.trim(), "SUMMER");
    ok(node.cli(&[
        "promo",
        "create",
        "gig",
        "--traffic",
        "1G",
        "--max-uses",
        "1",
    ]));
    refused(
        &node.cli(&[
            "promo",
            "create",
            "both",
            "--days",
            "1",
            "--discount",
            "5",
            "--max-uses",
            "1",
        ]),
        "exactly one of --days, --traffic, --discount",
    );
    refused(
        &node.cli(&[
            "promo",
            "create",
            "summer",
            "--days",
            "1",
            "--max-uses",
            "1",
        ]),
        "already exists",
    );
    refused(
        &node.cli(&[
            "promo",
            "create",
            "pct",
            "--discount",
            "101",
            "--max-uses",
            "1",
        ]),
        "percent",
    );
    let table = ok(node.cli(&["promo", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[1].starts_with("SUMMER") && lines[1].contains("25%") && lines[1].contains("0/3"),
        "{table}"
    );
    assert!(lines[1].ends_with("active"), "{table}");
    assert!(lines[2].contains("1073741824 B"), "{table}");
    ok(node.cli(&["promo", "disable", "summer"]));
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&ok(node.cli(&["promo", "list", "--output", "json"]))).unwrap();
    assert_eq!(json[0]["disabled"], true, "{json:?}");
    refused(
        &node.cli(&["promo", "disable", "nope"]),
        "promo code NOPE not found",
    );

    assert!(node.cli(&["user", "add", "ann"]).status.success());
    assert_eq!(
        ok(node.cli(&["balance", "credit", "ann", "100", "--reason", "gift"])).trim(),
        "100"
    );
    refused(&node.cli(&["balance", "debit", "ann", "150"]), "below zero");
    assert_eq!(
        ok(node.cli(&["balance", "debit", "ann", "30"])).trim(),
        "70"
    );
    let shown = ok(node.cli(&["balance", "show", "ann"]));
    assert!(shown.starts_with("user 1: 70 Stars"), "{shown}");
    assert!(shown.contains("gift") && shown.contains("key:"), "{shown}");
}
