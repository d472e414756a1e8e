//! `vpnkeeper import marzban|amnezia`: reads another panel's files on this machine (or a
//! Marzban panel over its REST API, `marzban_api`), turns them into an import request and posts it to the node's `POST /api/v1/imports` (the
//! route proposes the Commands, so imports take the one write path). `--dry-run` posts the
//! same request with `dry_run` and prints the plan the node answers.

pub mod amnezia;
pub mod marzban;
pub mod marzban_api;

use anyhow::Result;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::ApiClient;

/// Users per request (the route takes at most 500).
const CHUNK: usize = 200;

/// An import read from the old panel, in the route's request shape.
pub struct ImportPlan {
    pub source: &'static str,
    pub legacy_secret: Option<String>,
    pub server: Option<Value>,
    pub users: Vec<Value>,
    /// Things the import cannot carry, said once each.
    pub notes: Vec<String>,
}

/// Posts the plan in chunks and prints one line per user plus a summary.
pub async fn submit(api: &ApiClient, plan: ImportPlan, dry_run: bool) -> Result<()> {
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    let mut first = true;
    let (mut created, mut updated, mut new_devices) = (0, 0, 0);
    let chunks: Vec<&[Value]> = if plan.users.is_empty() {
        vec![&[]]
    } else {
        plan.users.chunks(CHUNK).collect()
    };
    for chunk in chunks {
        // The secret and server key travel with the first chunk only.
        let body = json!({
            "source": plan.source,
            "dry_run": dry_run,
            "legacy_secret": if first { plan.legacy_secret.clone() } else { None },
            "server": if first { plan.server.clone() } else { None },
            "users": chunk,
        });
        let (_, report): (_, Value) = api
            .call(Method::POST, "/api/v1/imports", Some(body))
            .await?;
        if first {
            if report["legacy_secret"] == true {
                println!(
                    "{} old subscription URLs on /sub/{{token}}",
                    verb(dry_run, "accept")
                );
            }
            if report["server_key"] == true {
                println!(
                    "{} the old server's WireGuard key and AmneziaWG parameters",
                    verb(dry_run, "take over")
                );
            }
        }
        first = false;
        for u in report["users"].as_array().into_iter().flatten() {
            let action = u["action"].as_str().unwrap_or("?");
            let n = u["new_devices"].as_u64().unwrap_or(0);
            match action {
                "create" => created += 1,
                _ => updated += 1,
            }
            new_devices += n;
            println!(
                "{} user {} ({} new device(s), {} kept)",
                verb(dry_run, action),
                u["name"].as_str().unwrap_or("?"),
                n,
                u["kept_devices"].as_u64().unwrap_or(0)
            );
        }
    }
    let tail = if dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    println!(
        "{created} user(s) created, {updated} brought in line, {new_devices} device(s) added{tail}"
    );
    Ok(())
}

/// "would create" in a dry run, "create" otherwise.
fn verb(dry_run: bool, action: &str) -> String {
    if dry_run {
        format!("would {action}")
    } else {
        action.to_string()
    }
}

/// A name vpnkeeper accepts for `name`: the same, or prefixed when it is a plain number
/// (which vpnkeeper reads as an id).
pub fn usable_name(prefix: &str, name: &str) -> String {
    if vpnkeeper_domain::validate::name("name", name).is_ok() {
        name.to_string()
    } else {
        let cleaned: String = name
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(40)
            .collect();
        format!("{prefix}-{cleaned}")
    }
}
