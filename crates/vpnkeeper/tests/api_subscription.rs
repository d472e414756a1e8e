//! `GET /sub/{token}` against the real binary: every format parses and carries every link,
//! the headers client apps read, User-Agent detection, config downloads by token, and the
//! empty answer for disabled/expired users.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const NO_LIMITS: [(&str, &str); 4] = [
    ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_KEY_CREATE_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "0"),
];

async fn post(node: &Node, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", node.base()))
        .bearer_auth(&node.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn patch(node: &Node, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .patch(format!("{}{path}", node.base()))
        .bearer_auth(&node.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn fetch(url: &str, ua: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(ua) = ua {
        req = req.header("user-agent", ua);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn subscription_formats_headers_and_lifecycle() {
    let mut node = Node::init();
    // Debug logging: every request is logged with its span, which is where a token in the
    // path would leak; the end of the test checks it does not.
    let mut env = NO_LIMITS.to_vec();
    env.push(("VPNKEEPER_LOG__LEVEL", "debug"));
    env.push(("VPNKEEPER_API__SUPPORT_URL", "https://t.me/vpn_support"));
    node.start_env(&env);
    let user = post(
        &node,
        "/api/v1/users",
        json!({"name": "Алиса", "traffic_limit_bytes": 5_000_000_000i64}),
    )
    .await;
    let sub = user["subscription_url"].as_str().unwrap().to_string();
    let awg = post(
        &node,
        "/api/v1/devices",
        json!({"user": user["id"], "type": "phone"}),
    )
    .await;
    let awg2 = post(
        &node,
        "/api/v1/devices",
        json!({"user": user["id"], "type": "laptop"}),
    )
    .await;
    let links = 2;

    // Default (and v2rayNG): base64 of newline-joined links.
    let (s, h, body) = fetch(&sub, Some("v2rayNG/1.9.16")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h["subscription-userinfo"],
        "upload=0; download=0; total=5000000000; expire=0"
    );
    assert_eq!(h["profile-update-interval"], "12");
    assert_eq!(h["support-url"], "https://t.me/vpn_support");
    let title = h["profile-title"].to_str().unwrap();
    let title = String::from_utf8(
        STANDARD
            .decode(title.strip_prefix("base64:").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(title, "vpnkeeper (Алиса)");
    let decoded = String::from_utf8(STANDARD.decode(body.trim()).unwrap()).unwrap();
    let lines: Vec<&str> = decoded.lines().collect();
    assert_eq!(lines.len(), links, "{decoded}");
    // Each link is a config download authorised by the token; it serves the .conf.
    for (line, dev) in lines.iter().zip([&awg, &awg2]) {
        assert!(line.starts_with(&format!("{sub}/devices/")), "{line}");
        assert!(line.contains(dev["uuid"].as_str().unwrap()));
        let (s, _, conf) = fetch(line, None).await;
        assert_eq!(s, StatusCode::OK, "{line}");
        assert!(
            conf.contains("[Interface]") && conf.contains("[Peer]"),
            "{conf}"
        );
        assert!(conf.contains("Jc = "), "AmneziaWG parameters: {conf}");
    }

    // Plain.
    let (_, h, plain) = fetch(&format!("{sub}?format=plain"), None).await;
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(plain.lines().collect::<Vec<_>>(), lines);
    // Query parameters apps add on their own are ignored; other panels' format names work.
    let (s, _, extra) = fetch(&format!("{sub}?format=plain&_=1733212800&flag=1"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(extra, plain);
    let (s, _, v2ray) = fetch(&format!("{sub}?format=v2ray"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        String::from_utf8(STANDARD.decode(v2ray.trim()).unwrap()).unwrap(),
        decoded
    );

    // sing-box, by User-Agent: valid JSON. Mainline sing-box has no AmneziaWG, so awg
    // devices are left out and traffic goes direct (plain WireGuard: see the test below).
    let (_, h, sb) = fetch(&sub, Some("SFA/1.11.4")).await;
    assert_eq!(h["content-type"], "application/json");
    let sb: Value = serde_json::from_str(&sb).unwrap();
    assert!(sb.get("endpoints").is_none());
    assert_eq!(sb["route"]["final"], "direct");

    // Clash/Mihomo, by ?format=: valid YAML with a proxy per link, AmneziaWG parameters on
    // the awg one.
    let (_, h, yaml) = fetch(&format!("{sub}?format=clash"), None).await;
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    let clash: Value = serde_norway::from_str(&yaml).unwrap();
    let proxies = clash["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), links);
    assert!(proxies.iter().all(|p| p["type"] == "wireguard"));
    for (p, dev) in proxies.iter().zip([&awg, &awg2]) {
        assert!(p["amnezia-wg-option"]["jc"].is_u64(), "{yaml}");
        assert_eq!(p["server"], "127.0.0.1");
        assert_eq!(
            format!("{}/32", p["ip"].as_str().unwrap()),
            dev["address_v4"].as_str().unwrap()
        );
        assert!(p["private-key"].as_str().unwrap().len() == 44);
    }
    assert_eq!(
        clash["proxy-groups"][0]["proxies"]
            .as_array()
            .unwrap()
            .len(),
        links
    );
    let (_, _, yaml_ua) = fetch(&sub, Some("clash.meta/1.18")).await;
    assert_eq!(yaml_ua, yaml);

    // Bad format: 400 naming it; unknown token: 404.
    let (s, _, e) = fetch(&format!("{sub}?format=yaml"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _, _) = fetch(
        &format!("{}/sub/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", node.base()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Disabled: an empty list with the same headers, and config links stop working.
    post(&node, "/api/v1/users/Алиса/disable", json!({})).await;
    let (s, h, body) = fetch(&sub, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, "");
    assert!(h.contains_key("subscription-userinfo"));
    let (s, _, _) = fetch(lines[0], None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, sb) = fetch(&format!("{sub}?format=sing-box"), None).await;
    let sb: Value = serde_json::from_str(&sb).unwrap();
    assert_eq!(sb["route"]["final"], "direct");
    post(&node, "/api/v1/users/Алиса/enable", json!({})).await;
    let (_, _, body) = fetch(&sub, None).await;
    assert!(!body.is_empty(), "enabled again: links are back");

    // Expired: empty, and `expire` says when.
    patch(
        &node,
        "/api/v1/users/Алиса",
        json!({"expires_at_ms": 1_000_000_000_000i64}),
    )
    .await;
    let (_, h, body) = fetch(&sub, None).await;
    assert_eq!(body, "");
    assert!(h["subscription-userinfo"]
        .to_str()
        .unwrap()
        .ends_with("expire=1000000000"));

    // Rotation: the old URL is gone, the new one works.
    patch(&node, "/api/v1/users/Алиса", json!({"expires_at_ms": null})).await;
    let rotated = post(&node, "/api/v1/users/Алиса/subscription/rotate", json!({})).await;
    let new_sub = rotated["subscription_url"].as_str().unwrap();
    let (s, _, _) = fetch(&sub, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, body) = fetch(new_sub, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        String::from_utf8(STANDARD.decode(body).unwrap())
            .unwrap()
            .lines()
            .count(),
        links
    );

    // A revoked device leaves the subscription.
    let client = reqwest::Client::new();
    client
        .delete(format!(
            "{}/api/v1/devices/{}",
            node.base(),
            awg["uuid"].as_str().unwrap()
        ))
        .bearer_auth(&node.token)
        .send()
        .await
        .unwrap();
    let (_, _, body) = fetch(&format!("{new_sub}?format=plain"), None).await;
    assert_eq!(body.lines().count(), 1);

    // Tokens stay out of the log.
    node.terminate();
    let token = new_sub.rsplit('/').next().unwrap();
    assert!(!node.log().contains(token), "subscription token in the log");
}

#[tokio::test]
async fn plain_wireguard_node_in_sing_box_and_clash() {
    let mut node = Node::init();
    let mut env = NO_LIMITS.to_vec();
    env.push(("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false"));
    node.start_env(&env);
    let user = post(&node, "/api/v1/users", json!({"name": "wg-user"})).await;
    let sub = user["subscription_url"].as_str().unwrap().to_string();
    let dev = post(
        &node,
        "/api/v1/devices",
        json!({"user": "wg-user", "type": "laptop"}),
    )
    .await;
    assert_eq!(
        dev["protocol"], "wireguard",
        "the node's flavour is the default"
    );
    let dev2 = post(
        &node,
        "/api/v1/devices",
        json!({"user": "wg-user", "type": "router"}),
    )
    .await;

    // sing-box: one WireGuard endpoint per link, all behind the `proxy` selector.
    let (_, _, sb) = fetch(&format!("{sub}?format=sing-box"), None).await;
    let sb: Value = serde_json::from_str(&sb).unwrap();
    let endpoints = sb["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2);
    for (ep, d) in endpoints.iter().zip([&dev, &dev2]) {
        assert_eq!(ep["type"], "wireguard");
        assert_eq!(ep["address"][0], d["address_v4"]);
        assert_eq!(ep["peers"][0]["address"], "127.0.0.1");
        assert_eq!(ep["peers"][0]["port"], 51820);
        assert!(ep["peers"][0]["pre_shared_key"].is_string());
    }
    let selector = &sb["outbounds"][0];
    assert_eq!(selector["type"], "selector");
    let tags: Vec<&Value> = endpoints.iter().map(|e| &e["tag"]).collect();
    assert_eq!(
        selector["outbounds"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        tags
    );
    assert_eq!(sb["route"]["final"], "proxy");

    // Clash: plain wireguard proxies, no AmneziaWG options.
    let (_, _, yaml) = fetch(&format!("{sub}?format=mihomo"), None).await;
    let clash: Value = serde_norway::from_str(&yaml).unwrap();
    let proxies = clash["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 2);
    assert!(proxies
        .iter()
        .all(|p| p["type"] == "wireguard" && p.get("amnezia-wg-option").is_none()));

    // base64: the config links serve configs without AmneziaWG lines.
    let (_, _, b64) = fetch(&sub, None).await;
    let text = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
    for line in text.lines() {
        let (s, _, conf) = fetch(line, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(conf.contains("[Peer]") && !conf.contains("Jc"), "{conf}");
    }
}
