//! The CLI verbs that are clients of the local API (`user`, `device`, `status`), and the
//! typed views they read from its JSON. A view holds only the fields the verb prints and
//! ignores the rest, so the API can grow fields without breaking the CLI.

use anyhow::Result;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::{url_segment, ApiClient};
use crate::{DeviceCmd, OutputFormat, UserCmd};

/// `GET /api/v1/users` item / `POST /api/v1/users` answer.
#[derive(Debug, Deserialize)]
struct UserView {
    id: i64,
    name: String,
    telegram_id: Option<i64>,
    enabled: bool,
}

#[derive(Debug, Deserialize)]
struct UserList {
    users: Vec<UserView>,
}

/// `GET /api/v1/devices` item / `POST /api/v1/devices` answer.
#[derive(Debug, Deserialize)]
struct DeviceView {
    id: i64,
    user_id: i64,
    name: String,
    device_type: String,
    protocol: String,
    address_v4: Option<String>,
    revoked_at_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct DeviceList {
    devices: Vec<DeviceView>,
}

/// `GET /api/v1/status`.
#[derive(Debug, Deserialize)]
struct StatusView {
    node: Option<NodeName>,
    raft: RaftView,
    counts: CountsView,
}

#[derive(Debug, Deserialize)]
struct NodeName {
    name: String,
}

#[derive(Debug, Deserialize)]
struct RaftView {
    node_id: u64,
    role: String,
    leader: Option<u64>,
    term: u64,
    last_log_index: Option<u64>,
    last_applied: Option<u64>,
    voters: Vec<u64>,
}

#[derive(Debug, Deserialize)]
struct CountsView {
    users: i64,
    users_enabled: i64,
    devices_active: i64,
    devices_revoked: i64,
    nodes: i64,
}

/// Answers whose body the verb does not read (any JSON).
type Ignored = serde::de::IgnoredAny;

pub async fn user_cmd(api: &ApiClient, cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add { name, telegram_id } => {
            let body = json!({"name": name, "telegram_id": telegram_id});
            let (_, user): (_, UserView) =
                api.call(Method::POST, "/api/v1/users", Some(body)).await?;
            println!("{}", user.id);
        }
        UserCmd::List { search, output } => {
            let mut path = "/api/v1/users?limit=1000".to_string();
            if let Some(s) = search {
                path.push_str(&format!("&search={}", url_segment(&s)));
            }
            if output == OutputFormat::Json {
                return print_json_list(api, &path, "users").await;
            }
            let (_, list): (_, UserList) = api.call(Method::GET, &path, None).await?;
            print!("{}", user_table(&list.users));
        }
        UserCmd::Disable { user } => {
            let path = format!("/api/v1/users/{}/disable", url_segment(&user));
            let _: (_, Ignored) = api.call(Method::POST, &path, None).await?;
            eprintln!("user {user} disabled");
        }
        UserCmd::Enable { user } => {
            let path = format!("/api/v1/users/{}/enable", url_segment(&user));
            let _: (_, Ignored) = api.call(Method::POST, &path, None).await?;
            eprintln!("user {user} enabled");
        }
    }
    Ok(())
}

/// `--output json`: the API's list under `key`, as a JSON array on stdout.
pub(crate) async fn print_json_list(api: &ApiClient, path: &str, key: &str) -> Result<()> {
    let (_, page): (_, serde_json::Value) = api.call(Method::GET, path, None).await?;
    let items = page
        .get(key)
        .cloned()
        .unwrap_or(serde_json::Value::Array(vec![]));
    println!("{}", serde_json::to_string_pretty(&items)?);
    Ok(())
}

fn user_table(users: &[UserView]) -> String {
    let mut out = format!("{:<8} {:<24} {:<14} ENABLED\n", "ID", "NAME", "TELEGRAM");
    for u in users {
        out.push_str(&format!(
            "{:<8} {:<24} {:<14} {}\n",
            u.id,
            u.name,
            u.telegram_id
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            if u.enabled { "yes" } else { "no" }
        ));
    }
    out
}

pub async fn device_cmd(api: &ApiClient, cmd: DeviceCmd) -> Result<()> {
    match cmd {
        DeviceCmd::Add {
            user,
            device_type,
            protocol,
            name,
        } => {
            let user_field = match user.parse::<i64>() {
                Ok(id) => json!(id),
                Err(_) => json!(user),
            };
            let body = json!({"user": user_field, "type": device_type, "protocol": protocol, "name": name});
            let (_, device): (_, DeviceView) = api
                .call(Method::POST, "/api/v1/devices", Some(body))
                .await?;
            eprintln!("{}", device.id);
            let config = api
                .get_text(&format!("/api/v1/devices/{}/config", device.id))
                .await?;
            print!("{config}");
        }
        DeviceCmd::List {
            user,
            include_revoked,
            output,
        } => {
            let mut path = format!("/api/v1/devices?limit=1000&include_revoked={include_revoked}");
            if let Some(u) = user {
                path.push_str(&format!("&user={}", url_segment(&u)));
            }
            if output == OutputFormat::Json {
                return print_json_list(api, &path, "devices").await;
            }
            let (_, list): (_, DeviceList) = api.call(Method::GET, &path, None).await?;
            print!("{}", device_table(&list.devices));
        }
        DeviceCmd::Revoke { device } => {
            let path = format!("/api/v1/devices/{}", url_segment(&device));
            let _: (_, Ignored) = api.call(Method::DELETE, &path, None).await?;
            eprintln!("device {device} revoked");
        }
    }
    Ok(())
}

fn device_table(devices: &[DeviceView]) -> String {
    let mut out = format!(
        "{:<8} {:<8} {:<20} {:<8} {:<10} {:<18} STATE\n",
        "ID", "USER", "NAME", "TYPE", "PROTOCOL", "ADDRESS"
    );
    for d in devices {
        out.push_str(&format!(
            "{:<8} {:<8} {:<20} {:<8} {:<10} {:<18} {}\n",
            d.id,
            d.user_id,
            d.name,
            d.device_type,
            d.protocol,
            d.address_v4.as_deref().unwrap_or("-"),
            if d.revoked_at_ms.is_none() {
                "active"
            } else {
                "revoked"
            }
        ));
    }
    out
}

pub async fn status_cmd(api: &ApiClient) -> Result<()> {
    let (_, s): (_, StatusView) = api.call(Method::GET, "/api/v1/status", None).await?;
    print!("{}", status_text(&s));
    Ok(())
}

fn status_text(s: &StatusView) -> String {
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let (raft, counts) = (&s.raft, &s.counts);
    let node = s.node.as_ref().map_or("unregistered", |n| n.name.as_str());
    // `[1,2]`, as the JSON array it is.
    let voters = serde_json::to_string(&raft.voters).expect("numbers serialize");
    [
        format!("node          {} ({node})", raft.node_id),
        format!("role          {}", raft.role),
        format!("leader        {}", opt(raft.leader)),
        format!("term          {}", raft.term),
        format!("last applied  {}", opt(raft.last_applied)),
        format!("last log      {}", opt(raft.last_log_index)),
        format!("voters        {voters}"),
        format!(
            "users         {} ({} enabled)",
            counts.users, counts.users_enabled
        ),
        format!(
            "devices       {} active, {} revoked",
            counts.devices_active, counts.devices_revoked
        ),
        format!("nodes         {}", counts.nodes),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_the_api_json_and_prints_the_same_lines() {
        let s: StatusView = serde_json::from_value(json!({
            "node": {"name": "node-1", "id": 1, "extra": true},
            "raft": {"node_id": 1, "role": "leader", "leader": 1, "term": 2,
                     "last_log_index": 9, "last_applied": null, "voters": [1, 2]},
            "counts": {"users": 2, "users_enabled": 1, "devices_active": 3,
                       "devices_revoked": 0, "nodes": 1},
        }))
        .unwrap();
        let text = status_text(&s);
        assert!(text.starts_with("node          1 (node-1)\nrole          leader\n"));
        assert!(text.contains("last applied  -\n"), "{text}");
        assert!(text.contains("voters        [1,2]\n"), "{text}");
        assert!(text.contains("users         2 (1 enabled)\n"), "{text}");
        assert!(
            text.contains("devices       3 active, 0 revoked\n"),
            "{text}"
        );
    }

    #[test]
    fn tables_mark_missing_values() {
        let users: UserList = serde_json::from_value(json!({"users": [
            {"id": 1, "name": "alice", "telegram_id": null, "enabled": false, "active": false}
        ], "total": 1}))
        .unwrap();
        let t = user_table(&users.users);
        assert!(
            t.lines().nth(1).unwrap().starts_with("1        alice"),
            "{t}"
        );
        assert!(t.ends_with(" -              no\n"), "{t:?}");
        let devices: DeviceList = serde_json::from_value(json!({"devices": [
            {"id": 4, "user_id": 1, "name": "phone", "device_type": "phone",
             "protocol": "vless", "address_v4": null, "revoked_at_ms": 5}
        ]}))
        .unwrap();
        let t = device_table(&devices.devices);
        assert!(t.ends_with("-                  revoked\n"), "{t:?}");
    }
}
