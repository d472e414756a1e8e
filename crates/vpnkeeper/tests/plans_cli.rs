//! `vpnkeeper plan add|list|archive` against the real binary and a running node (issue #15).

mod common;

use common::*;

fn plans_json(node: &Node, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["plan", "list", "--output", "json"];
    args.extend_from_slice(extra);
    let out = node.cli(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&out)).expect("a JSON array")
}

/// A failed verb: exit 1, one line on stderr containing `needle`.
fn refused(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "should fail: {}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

#[test]
fn plan_add_list_archive_and_bad_input() {
    let mut node = Node::init();
    node.start();
    assert_eq!(plans_json(&node, &[]), Vec::<serde_json::Value>::new());

    let out = node.cli(&[
        "plan",
        "add",
        "monthly",
        "--days",
        "30",
        "--quota",
        "50G",
        "--devices",
        "2",
        "--reset",
        "day_of_month",
        "--reset-day",
        "31",
        "--price",
        "150",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let monthly: i64 = stdout(&out).trim().parse().expect("plan add prints the id");
    let out = node.cli(&["plan", "add", "trial", "--days", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let trial: i64 = stdout(&out).trim().parse().unwrap();

    let plans = plans_json(&node, &[]);
    assert_eq!(plans.len(), 2, "{plans:?}");
    let m = plans.iter().find(|p| p["id"] == monthly).unwrap();
    assert_eq!(m["name"], "monthly");
    assert_eq!(m["duration_days"], 30);
    assert_eq!(m["traffic_limit_bytes"], 50i64 << 30);
    assert_eq!(m["device_limit"], 2);
    assert_eq!(m["reset_strategy"], "day_of_month");
    assert_eq!(m["reset_day"], 31);
    assert_eq!(m["price_stars"], 150);
    assert_eq!(m["archived"], false);

    // Bad input: one line naming what is wrong, nothing created.
    refused(
        &node.cli(&[
            "plan",
            "add",
            "x",
            "--days",
            "30",
            "--reset",
            "day_of_month",
            "--reset-day",
            "32",
        ]),
        "reset_day",
    );
    refused(
        &node.cli(&["plan", "add", "x", "--days", "0"]),
        "duration_days",
    );
    refused(
        &node.cli(&["plan", "add", "x", "--days", "30", "--quota", "5 parsecs"]),
        "--quota",
    );
    refused(
        &node.cli(&["plan", "add", "monthly", "--days", "7"]),
        "monthly",
    );
    assert_eq!(plans_json(&node, &[]).len(), 2);

    // Archive by name and by id; archived plans leave the default list.
    let out = node.cli(&["plan", "archive", "trial"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<i64> = plans_json(&node, &[])
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(left, vec![monthly]);
    let all = plans_json(&node, &["--archived"]);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all.iter().find(|p| p["id"] == trial).unwrap()["archived"],
        true
    );
    refused(&node.cli(&["plan", "archive", "nosuch"]), "no plan named");
    refused(&node.cli(&["plan", "archive", "999"]), "plan 999");

    // The table for people.
    let out = node.cli(&["plan", "list", "--archived"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("ID "), "{table}");
    let row = table.lines().find(|l| l.contains("monthly")).unwrap();
    assert!(
        row.contains("50 GiB") && row.contains("day_of_month 31") && row.ends_with("active"),
        "{table}"
    );
    let row = table.lines().find(|l| l.contains("trial")).unwrap();
    assert!(
        row.contains("unlimited") && row.ends_with("archived"),
        "{table}"
    );

    node.terminate();
}
