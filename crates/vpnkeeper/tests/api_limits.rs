//! Rate limits (per key, per class, per address, 429 + Retry-After) and HTTPS, against the
//! real binary.

mod common;

use std::process::Command;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn per_key_and_per_address_limits_answer_429_with_retry_after() {
    let mut node = Node::init();
    node.start_env(&[
        ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "5"),
        ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "4"),
        ("VPNKEEPER_API__RATE_LIMIT_KEY_CREATE_PER_MIN", "2"),
        ("VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "3"),
    ]);
    let client = reqwest::Client::new();
    let base = node.base();
    let get = |token: &str| {
        client
            .get(format!("{base}/api/v1/users"))
            .bearer_auth(token)
            .send()
    };

    // Key creation: 2 per minute, on top of the write budget (4).
    let mut created = Vec::new();
    for i in 0..3 {
        let r = client
            .post(format!("{base}/api/v1/keys"))
            .bearer_auth(&node.token)
            .json(&json!({"name": format!("k{i}"), "scope": "read_only"}))
            .send()
            .await
            .unwrap();
        if i < 2 {
            assert_eq!(r.status(), StatusCode::CREATED);
            let v: Value = r.json().await.unwrap();
            created.push(v["token"].as_str().unwrap().to_string());
        } else {
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=30).contains(&retry), "retry-after {retry}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["error"]["code"], "rate_limited");
            assert!(e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("key creations"));
        }
    }
    // Writes: 3 used (two creations and the refused one), one left.
    let w = |name: &str| {
        client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&node.token)
            .json(&json!({"name": name}))
            .send()
    };
    assert_eq!(w("u1").await.unwrap().status(), StatusCode::CREATED);
    let r = w("u2").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));

    // Reads: 5 per key; another key has its own budget.
    for _ in 0..5 {
        assert_eq!(get(&node.token).await.unwrap().status(), StatusCode::OK);
    }
    let r = get(&node.token).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=12).contains(&retry),
        "5/min refills every 12 s: {retry}"
    );
    assert_eq!(get(&created[0]).await.unwrap().status(), StatusCode::OK);

    // Unauthenticated traffic per address: failed auth and subscription guesses share 3/min.
    assert_eq!(
        get("vk_000000000000_x").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let sub = |t: &str| client.get(format!("{base}/sub/{t}")).send();
    assert_eq!(
        sub("AAAAAAAAAAAAAAAAAAAAAAAA").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sub("BBBBBBBBBBBBBBBBBBBBBBBB").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let r = sub("CCCCCCCCCCCCCCCCCCCCCCCC").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let r = get("vk_000000000000_y").await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "guessing keys is throttled too"
    );

    // Health is never limited.
    for _ in 0..10 {
        let r = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[test]
fn https_with_rustls_when_a_certificate_is_configured() {
    let mut node = Node::init();
    let dir = node.dir.path().to_path_buf();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Start without the harness' HTTP health wait, then poll over HTTPS with curl.
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--data-dir", &node.data()])
        .env("VPNKEEPER_API__TLS_CERT", &cert)
        .env("VPNKEEPER_API__TLS_KEY", &key)
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/health", node.api_port);
    let mut body = String::new();
    for _ in 0..100 {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&cert)
            .arg(&url)
            .output()
            .unwrap();
        body = String::from_utf8_lossy(&out.stdout).into_owned();
        if body.contains("\"status\":\"ok\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        body.contains("\"status\":\"ok\""),
        "HTTPS health: {body}\n{}",
        node.log()
    );
    // The subscription URL of a new user says https.
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .args(["-H", &format!("authorization: Bearer {}", node.token)])
        .args([
            "-H",
            "content-type: application/json",
            "-d",
            "{\"name\":\"tls-user\"}",
        ])
        .arg(format!("https://127.0.0.1:{}/api/v1/users", node.api_port))
        .output()
        .unwrap();
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        user["subscription_url"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{user}"
    );
    // The CLI reads the same config and talks HTTPS to the node, pinning its certificate.
    let tls_env = [
        ("VPNKEEPER_API__TLS_CERT", cert.to_str().unwrap()),
        ("VPNKEEPER_API__TLS_KEY", key.to_str().unwrap()),
    ];
    let out = vk_env(&["user", "list", "--data-dir", &node.data()], &tls_env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("tls-user"), "{}", stdout(&out));
    // Plain HTTP on the TLS port gets nothing useful.
    assert!(
        http_get(&format!("http://127.0.0.1:{}/health", node.api_port))
            .map(|b| !b.contains("\"status\""))
            .unwrap_or(true)
    );
    let _ = child.kill();
    let _ = child.wait();
    node.child = None;

    // Half a TLS config is refused at start with one line naming the key.
    let out = vk_env(
        &["run", "--data-dir", &node.data()],
        &[("VPNKEEPER_API__TLS_CERT", cert.to_str().unwrap())],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("api.tls_key"), "{}", stderr(&out));
}

/// `--log-format json`: every line is a JSON object, and every line a request logs carries
/// its `X-Request-Id` (accepted from the client and echoed back).
#[test]
fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let mut node = Node::init();
    let dir = node.dir.path().to_path_buf();
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--data-dir", &node.data(), "--log-format", "json"])
        .env("VPNKEEPER_LOG__LEVEL", "debug")
        .stderr(log)
        .spawn()
        .unwrap();
    wait_healthy(&node.base(), std::time::Duration::from_secs(20), &dir);
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null"])
        .args(["-H", "x-request-id: req-abc-42"])
        .args(["-H", &format!("authorization: Bearer {}", node.token)])
        .arg(format!("{}/api/v1/users", node.base()))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(headers.contains("x-request-id: req-abc-42"), "{headers}");
    // A generated id when the client sends none.
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null"])
        .arg(format!("{}/health", node.base()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .to_ascii_lowercase()
            .contains("x-request-id: "),
        "no generated request id"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    node.child = None;

    let text = std::fs::read_to_string(dir.join("node.log")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["path"] == "/api/v1/users")
        .collect();
    assert!(
        of_request.len() >= 2,
        "the request logged fewer than two lines:\n{text}"
    );
    for l in &of_request {
        assert_eq!(l["span"]["request_id"], "req-abc-42", "{l}");
    }
}
