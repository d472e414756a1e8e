//! `GET /sub/{token}` against the real binary: every format parses and carries what it can,
//! the headers client apps read, User-Agent detection, config downloads by token, the
//! blocking, self-explaining answer when nothing is usable, and the browser page rendered by
//! a real headless Chromium whose QR codes decode.

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

/// The header's `base64:` text decoded.
fn b64_header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    let v = h[name].to_str().unwrap();
    String::from_utf8(STANDARD.decode(v.strip_prefix("base64:").unwrap()).unwrap()).unwrap()
}

/// True when `conf` has a `key = value` line for `key` (whole key, so a base64 key that
/// happens to contain "Jc" does not count).
fn has_key(conf: &str, key: &str) -> bool {
    conf.lines()
        .any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
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

    // v2rayNG: base64 links, share links only. AmneziaWG has none, so the list is empty and
    // the app is told why and where to get the configs instead of getting bogus entries.
    let (s, h, body) = fetch(&sub, Some("v2rayNG/1.9.16")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h["subscription-userinfo"],
        "upload=0; download=0; total=5000000000; expire=0"
    );
    assert_eq!(h["profile-update-interval"], "12");
    assert_eq!(h["support-url"], "https://t.me/vpn_support");
    assert_eq!(h["profile-web-page-url"], sub.as_str());
    assert_eq!(body, "");
    let title = b64_header(&h, "profile-title");
    assert!(title.starts_with("⚠ Nothing this app can use"), "{title}");
    let announce = b64_header(&h, "announce");
    assert!(
        announce.contains("AmneziaWG/WireGuard devices are not in this list"),
        "{announce}"
    );
    // Each device's config is a download authorised by the token.
    let config_urls: Vec<String> = [&awg, &awg2]
        .iter()
        .map(|d| format!("{sub}/devices/{}/config", d["uuid"].as_str().unwrap()))
        .collect();
    for url in &config_urls {
        let (s, h, conf) = fetch(url, None).await;
        assert_eq!(s, StatusCode::OK, "{url}");
        assert!(
            conf.contains("[Interface]") && conf.contains("[Peer]"),
            "{conf}"
        );
        assert!(has_key(&conf, "Jc"), "AmneziaWG parameters: {conf}");
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .contains("_phone.conf\"")
                || h["content-disposition"]
                    .to_str()
                    .unwrap()
                    .contains("_laptop.conf\"")
        );
    }

    // Plain and the other panels' names; query parameters apps add are ignored.
    let (_, h, plain) = fetch(&format!("{sub}?format=plain"), None).await;
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(plain, "");
    let (s, _, extra) = fetch(&format!("{sub}?format=plain&_=1733212800&flag=1"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(extra, plain);
    let (s, _, v2ray) = fetch(&format!("{sub}?format=v2ray"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v2ray, body);

    // sing-box, by User-Agent: mainline sing-box has no AmneziaWG, so nothing is usable:
    // the profile rejects everything (never "connected" and direct) and says why.
    let (_, h, sb) = fetch(&sub, Some("SFA/1.11.4")).await;
    assert_eq!(h["content-type"], "application/json");
    let sb: Value = serde_json::from_str(&sb).unwrap();
    assert!(sb.get("endpoints").is_none());
    assert_eq!(sb["route"]["rules"][0]["action"], "reject", "{sb}");
    assert!(b64_header(&h, "announce").contains("sing-box has no AmneziaWG"));

    // Clash/Mihomo, by ?format=: valid YAML with a proxy per device, AmneziaWG parameters
    // on the awg ones, the configured title.
    let (_, h, yaml) = fetch(&format!("{sub}?format=clash"), None).await;
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    assert_eq!(b64_header(&h, "profile-title"), "vpnkeeper (Алиса)");
    assert!(!h.contains_key("announce"), "nothing left out for mihomo");
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
    let clash_count = |yaml: &str| {
        let v: Value = serde_norway::from_str(yaml).unwrap();
        v["proxies"].as_array().unwrap().len()
    };

    // Bad format: 400 naming it; unknown token: 404.
    let (s, _, e) = fetch(&format!("{sub}?format=yaml"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _, _) = fetch(
        &format!("{}/sub/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", node.base()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Disabled: the same headers, a title and announce that say access has ended, config
    // links stop working, and the profiles block instead of routing direct.
    post(&node, "/api/v1/users/Алиса/disable", json!({})).await;
    let (s, h, body) = fetch(&sub, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, "");
    assert!(h.contains_key("subscription-userinfo"));
    assert!(b64_header(&h, "announce").starts_with("Access has ended"));
    let (s, _, _) = fetch(&config_urls[0], None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, sb) = fetch(&format!("{sub}?format=sing-box"), None).await;
    let sb: Value = serde_json::from_str(&sb).unwrap();
    assert_eq!(sb["route"]["rules"][0]["action"], "reject");
    let (_, _, yaml) = fetch(&format!("{sub}?format=clash"), None).await;
    assert_eq!(clash_count(&yaml), 0);
    assert!(yaml.contains("REJECT"), "{yaml}");
    post(&node, "/api/v1/users/Алиса/enable", json!({})).await;
    let (_, _, yaml) = fetch(&format!("{sub}?format=clash"), None).await;
    assert_eq!(clash_count(&yaml), links, "enabled again: devices are back");

    // Expired: blocked, and `expire` says when.
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
    let (s, _, yaml) = fetch(&format!("{new_sub}?format=clash"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(clash_count(&yaml), links);

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
    let (_, _, yaml) = fetch(&format!("{new_sub}?format=clash"), None).await;
    assert_eq!(clash_count(&yaml), 1);

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

    // Link lists: no WireGuard share link exists, so nothing; the configs themselves
    // (downloads by token) carry no AmneziaWG lines.
    let (_, _, b64) = fetch(&sub, None).await;
    assert_eq!(b64, "");
    for d in [&dev, &dev2] {
        let url = format!("{sub}/devices/{}/config", d["uuid"].as_str().unwrap());
        let (s, _, conf) = fetch(&url, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(conf.contains("[Peer]"), "{conf}");
        for key in ["Jc", "Jmin", "Jmax", "S1", "S2", "H1", "H2", "H3", "H4"] {
            assert!(
                !has_key(&conf, key),
                "{key} in a plain WireGuard config: {conf}"
            );
        }
    }
}

/// The page a browser gets, rendered by a real headless Chromium: its screenshot holds QR
/// codes that decode to the device's config (the same bytes as its download) and to the
/// subscription URL.
#[tokio::test]
async fn browser_page_renders_scannable_qr_codes_in_chromium() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        if std::env::var("VPNKEEPER_SKIP_BROWSER").as_deref() == Ok("1") {
            println!("skipped: no chromium (VPNKEEPER_SKIP_BROWSER=1)");
            return;
        }
        panic!("needs Debian chromium (apt-get install -y --no-install-recommends chromium); VPNKEEPER_SKIP_BROWSER=1 skips");
    };
    let mut node = Node::init();
    node.start_env(&NO_LIMITS);
    let user = post(&node, "/api/v1/users", json!({"name": "erin"})).await;
    let sub = user["subscription_url"].as_str().unwrap().to_string();
    let dev = post(
        &node,
        "/api/v1/devices",
        json!({"user": "erin", "type": "phone"}),
    )
    .await;
    let download = format!("{sub}/devices/{}/config", dev["uuid"].as_str().unwrap());
    let (_, _, conf) = fetch(&download, None).await;

    // The page itself: no script, a download button per device, app links.
    let html = reqwest::Client::new()
        .get(&sub)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = html.text().await.unwrap();
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(html.contains(&format!("href=\"{download}\"")), "{html}");
    assert!(html.contains("erin_phone.conf") && html.contains("clash://install-config?url="));

    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("page.png");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(["--window-size=900,2000", "--force-device-scale-factor=1"])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&sub)
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&shot).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let decoded: Vec<String> = prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect();
    assert!(
        decoded.contains(&conf),
        "the device's QR code decodes to its config; decoded {} codes: {decoded:?}",
        decoded.len()
    );
    assert!(
        decoded.contains(&sub),
        "the subscription URL's QR code: {decoded:?}"
    );
}
