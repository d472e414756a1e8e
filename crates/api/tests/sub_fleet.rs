//! Multi-node subscriptions on a real one-node Raft cluster with real SQLite: a second node
//! is registered in the replicated state (it cannot run here until joining lands), and the
//! subscription follows what the log says about it.

use std::time::Duration;

use axum::body::Body;
use http::Request;
use serde_json::json;
use tower::ServiceExt;
use vpnkeeper_api::ApiState;
use vpnkeeper_cluster::{Cluster, RaftTiming};
use vpnkeeper_domain::command::NodeSpec;
use vpnkeeper_domain::secrets::ClusterSecret;
use vpnkeeper_domain::wgconf::ClientOptions;
use vpnkeeper_domain::{Actor, Command, DeviceType, Protocol, UserRef};
use vpnkeeper_store::NodeAddr;

const TOKEN: &str = "sub-token-0123456789abcdef";

fn xray_node(id: u64) -> Command {
    Command::UpsertNode {
        node: Box::new(NodeSpec {
            id,
            name: format!("node-{id}"),
            raft_addr: format!("127.0.0.{id}:8090"),
            api_addr: format!("127.0.0.{id}:8080"),
            public_host: format!("n{id}.example.com"),
            wireguard: None,
            xray: Some(
                json!({"port": 443, "reality_public_key": "pbk", "short_ids": ["ab"],
                "server_names": ["www.example.com"], "dest": "www.example.com:443",
                "fingerprint": "chrome", "reality_private_key": null}),
            ),
            capacity: None,
        }),
    }
}

async fn submit(cluster: &Cluster, command: Command) {
    let outcome = cluster
        .submit(Actor::System { node_id: 1 }, command)
        .await
        .expect("committed");
    assert!(outcome.is_ok(), "{outcome:?}");
}

async fn subscription(state: &ApiState) -> String {
    let resp = vpnkeeper_api::router(state.clone())
        .oneshot(
            Request::get(format!("/sub/{TOKEN}?format=plain"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vless_user_gets_one_link_per_online_xray_node() {
    let dir = tempfile::tempdir().unwrap();
    let secret = ClusterSecret::generate(&mut rand::rngs::OsRng);
    let cluster = Cluster::start(
        1,
        dir.path(),
        vpnkeeper_cluster::Pki::ensure(dir.path(), 1, &secret).expect("cluster certificates"),
        RaftTiming::default(),
    )
    .await
    .unwrap();
    cluster
        .initialize_single(NodeAddr {
            raft_addr: "127.0.0.1:8090".into(),
            api_addr: "127.0.0.1:8080".into(),
        })
        .await
        .unwrap();
    cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    submit(&cluster, xray_node(1)).await;
    submit(&cluster, xray_node(2)).await;
    submit(
        &cluster,
        Command::CreateUser {
            name: "alice".into(),
            telegram_id: None,
            sub_token: TOKEN.into(),
        },
    )
    .await;
    submit(
        &cluster,
        Command::IssueDevice {
            user: UserRef::Name("alice".into()),
            node_id: 1,
            name: "phone".into(),
            device_type: DeviceType::Phone,
            protocol: Protocol::Vless,
            uuid: uuid::Uuid::from_u128(7),
            wg: None,
        },
    )
    .await;
    let state = ApiState::new(cluster.clone(), secret.sealer(), ClientOptions::default());

    // Both nodes online: the same UUID on each, one link per node.
    let both = subscription(&state).await;
    let links: Vec<&str> = both.lines().filter(|l| l.starts_with("vless://")).collect();
    assert_eq!(links.len(), 2, "{both}");
    assert!(links[0].contains("@n1.example.com:443"), "{both}");
    assert!(links[1].contains("@n2.example.com:443"), "{both}");
    let uuid = uuid::Uuid::from_u128(7).to_string();
    assert!(links.iter().all(|l| l.contains(&uuid)), "{both}");

    // The leader counts node 2 offline: its link drops out until it is back.
    let offline = Command::SetNodeOnline {
        node_id: 2,
        online: false,
    };
    submit(&cluster, offline).await;
    let one = subscription(&state).await;
    let links: Vec<&str> = one.lines().filter(|l| l.starts_with("vless://")).collect();
    assert_eq!(links.len(), 1, "{one}");
    assert!(links[0].contains("@n1.example.com:443"), "{one}");

    submit(
        &cluster,
        Command::SetNodeOnline {
            node_id: 2,
            online: true,
        },
    )
    .await;
    assert_eq!(subscription(&state).await, both);
    cluster.shutdown().await;
}
