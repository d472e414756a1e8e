//! Leader-only services on a real one-node Raft cluster: a session starts when the node
//! leads, stops when it no longer does (Raft shut down) or on shutdown, and the leader lease
//! of a sole voter allows the configured long poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vpnkeeper_bot::leader::while_leader;
use vpnkeeper_bot::lease::{Lease, PollPermit};
use vpnkeeper_cluster::{Cluster, RaftTiming};
use vpnkeeper_domain::secrets::ClusterSecret;
use vpnkeeper_store::NodeAddr;

async fn single_node(dir: &std::path::Path) -> Cluster {
    let secret = ClusterSecret::generate(&mut rand::rngs::OsRng);
    let cluster = Cluster::start(
        1,
        dir,
        vpnkeeper_cluster::Pki::ensure(dir, 1, &secret).expect("cluster certificates"),
        RaftTiming::default(),
    )
    .await
    .expect("start the cluster");
    cluster
        .initialize_single(NodeAddr {
            raft_addr: "127.0.0.1:1".into(),
            api_addr: "127.0.0.1:2".into(),
        })
        .await
        .expect("initialize");
    cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    cluster
}

/// Counts sessions started and sessions running; a session runs until told to stop.
#[derive(Default)]
struct Sessions {
    started: AtomicUsize,
    running: AtomicUsize,
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

fn spawn_service(
    cluster: &Cluster,
    sessions: &Arc<Sessions>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let s = sessions.clone();
    tokio::spawn(while_leader(
        cluster.clone(),
        "test service",
        stop,
        move |mut session_stop| {
            let s = s.clone();
            async move {
                s.started.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    s.running.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two sessions at once"
                );
                let _ = session_stop.wait_for(|v| *v).await;
                s.running.fetch_sub(1, Ordering::SeqCst);
            }
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_while_leading_and_stops_when_leadership_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = single_node(dir.path()).await;
    let sessions = Arc::new(Sessions::default());
    let (_stop_tx, stop) = watch::channel(false);
    let service = spawn_service(&cluster, &sessions, stop);
    wait_until("the leader starts the session", || {
        sessions.running.load(Ordering::SeqCst) == 1
    })
    .await;
    // Leadership ends (Raft stops): the session is told to stop and the loop ends with it.
    cluster.raft().shutdown().await.unwrap();
    wait_until("the session stops", || {
        sessions.running.load(Ordering::SeqCst) == 0
    })
    .await;
    tokio::time::timeout(Duration::from_secs(5), service)
        .await
        .expect("the service loop ends with Raft")
        .unwrap();
    assert_eq!(sessions.started.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_session_and_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = single_node(dir.path()).await;
    let sessions = Arc::new(Sessions::default());
    let (stop_tx, stop) = watch::channel(false);
    let service = spawn_service(&cluster, &sessions, stop);
    wait_until("the leader starts the session", || {
        sessions.running.load(Ordering::SeqCst) == 1
    })
    .await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), service)
        .await
        .expect("the service returns on shutdown")
        .unwrap();
    assert_eq!(
        sessions.running.load(Ordering::SeqCst),
        0,
        "awaited before returning"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_voter_holds_the_lease_and_long_polls_and_a_stopped_raft_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = single_node(dir.path()).await;
    let lease = Lease::new(cluster.clone());
    assert!(lease.sole_voter());
    assert!(
        lease.confirm().await,
        "a one-voter quorum acknowledges at once"
    );
    assert!(lease.held().await);
    assert_eq!(
        lease.permit(Duration::from_secs(25)).await,
        PollPermit::Poll {
            timeout: Duration::from_secs(25),
            deadline: None
        }
    );
    cluster.raft().shutdown().await.unwrap();
    assert!(!lease.sole_voter(), "not the leader any more");
    assert!(!lease.confirm().await);
    assert!(!lease.held().await);
    assert_eq!(
        lease.permit(Duration::from_secs(25)).await,
        PollPermit::Renew
    );
}
