//! The speed test between this node and another, over their authenticated RPC channel.
//!
//! Directions are named from the tested node's side, as a speed test run on that machine
//! would name them: **down** is data this node sends to it, **up** is data it sends back.
//! Each runs for [`STREAM_FOR`]. RTT is the median of a few small RPC round trips on the
//! warm connection. When the tested node's own config has `node.speedtest_url`, it also
//! downloads from that URL for up to [`STREAM_FOR`] (nothing is contacted otherwise).
//!
//! One test at a time per node: the tested node holds a lease ([`Serving`]) for the test
//! that began it, and a second begin — from any node — is refused until it ends or lapses.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{lock, OpsError};
use crate::version::{self, VERSION_HEADER};
use crate::Cluster;

/// How long each direction streams.
pub(crate) const STREAM_FOR: Duration = Duration::from_secs(5);
/// A lease nobody ended (the measuring node died) lapses after this.
const LEASE: Duration = Duration::from_secs(60);
/// Size of each upload request and of each chunk the tested node streams back.
pub(crate) const CHUNK: usize = 256 * 1024;
const UPLOAD_BODY: usize = 4 * 1024 * 1024;
/// The header carrying the test's token on the raw upload.
pub(crate) const TOKEN_HEADER: &str = "vpnkeeper-speedtest";
const PINGS: usize = 5;

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedResult {
    pub node_id: u64,
    /// The node that measured (the other end of the stream).
    pub from_node_id: u64,
    /// When it finished (unix ms).
    pub at_ms: i64,
    /// Mbit/s from the measuring node to the tested node.
    pub down_mbps: f64,
    /// Mbit/s from the tested node to the measuring node.
    pub up_mbps: f64,
    /// Median round trip of a small RPC, in milliseconds.
    pub rtt_ms: f64,
    /// The tested node's download from its `node.speedtest_url`; `None` when not set.
    pub http: Option<HttpSpeed>,
    /// Why the HTTP download failed, when it did.
    pub http_error: Option<String>,
}

/// A download from an operator-chosen URL, measured on the tested node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSpeed {
    pub url: String,
    pub mbps: f64,
    pub bytes: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SpeedError {
    #[error("a speed test of node {0} is running; try again when it ends")]
    Busy(u64),
    #[error("node {0} is the node you asked; run the speed test from another node")]
    SameNode(u64),
    #[error(transparent)]
    Ops(#[from] OpsError),
}

/// The tested node's side: the test it is serving.
#[derive(Default)]
pub(crate) struct Serving(std::sync::Mutex<Option<(String, Instant)>>);

impl Serving {
    /// Takes the lease for `token`, unless another test holds it.
    pub(crate) fn begin(&self, token: &str) -> Result<(), String> {
        let mut s = lock(&self.0);
        if let Some((held, until)) = s.as_ref() {
            if held != token && Instant::now() < *until {
                return Err("a speed test of this node is running".into());
            }
        }
        *s = Some((token.to_string(), Instant::now() + LEASE));
        Ok(())
    }

    /// Whether `token` holds the lease.
    pub(crate) fn holds(&self, token: &str) -> bool {
        lock(&self.0)
            .as_ref()
            .is_some_and(|(held, until)| held == token && Instant::now() < *until)
    }

    pub(crate) fn end(&self, token: &str) {
        let mut s = lock(&self.0);
        if s.as_ref().is_some_and(|(held, _)| held == token) {
            *s = None;
        }
    }
}

fn mbps(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-6) / 1e6
}

/// Removes the target from the measuring node's running set, however the test ends.
struct Running<'a>(&'a Cluster, u64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.0.agent().running).remove(&self.1);
    }
}

impl Cluster {
    /// Measures throughput both ways and the RTT between this node and node `id` (about
    /// 2 × [`STREAM_FOR`], plus the HTTP test when that node has one), and keeps the result
    /// for [`Cluster::last_speed_test`].
    pub async fn speed_test(&self, id: u64) -> Result<SpeedResult, SpeedError> {
        if id == self.node_id() {
            return Err(SpeedError::SameNode(id));
        }
        self.raft_addr_of(id)?;
        if !lock(&self.agent().running).insert(id) {
            return Err(SpeedError::Busy(id));
        }
        let _running = Running(self, id);
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let begun: Result<(), String> = self
            .ops_call(id, "/ops/speed/begin", &token, Duration::from_secs(5))
            .await?;
        if begun.is_err() {
            return Err(SpeedError::Busy(id));
        }
        let result = self.measure(id, &token).await;
        let _ = self
            .ops_call::<_, ()>(id, "/ops/speed/end", &token, Duration::from_secs(5))
            .await;
        let result = result?;
        lock(&self.agent().last).insert(id, result.clone());
        Ok(result)
    }

    async fn measure(&self, id: u64, token: &str) -> Result<SpeedResult, OpsError> {
        let rtt_ms = self.rtt(id).await?;
        let down_mbps = self.stream_down(id, token).await?;
        let up_mbps = self.stream_up(id, token).await?;
        let http: Result<Option<HttpSpeed>, String> = self
            .ops_call(
                id,
                "/ops/speed/http",
                &token,
                STREAM_FOR + Duration::from_secs(15),
            )
            .await?;
        let (http, http_error) = match http {
            Ok(h) => (h, None),
            Err(e) => (None, Some(e)),
        };
        Ok(SpeedResult {
            node_id: id,
            from_node_id: self.node_id(),
            at_ms: crate::now_ms(),
            down_mbps,
            up_mbps,
            rtt_ms,
            http,
            http_error,
        })
    }

    async fn rtt(&self, id: u64) -> Result<f64, OpsError> {
        // The first call may open the connection: not counted.
        self.ops_call::<_, ()>(id, "/ops/ping", &(), Duration::from_secs(5))
            .await?;
        let mut times = Vec::with_capacity(PINGS);
        for _ in 0..PINGS {
            let t = Instant::now();
            self.ops_call::<_, ()>(id, "/ops/ping", &(), Duration::from_secs(5))
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[PINGS / 2])
    }

    fn unreachable(&self, id: u64, e: impl std::fmt::Display) -> OpsError {
        OpsError::Unreachable {
            node: id,
            reason: e.to_string(),
        }
    }

    /// Down: this node uploads [`UPLOAD_BODY`]-sized requests for [`STREAM_FOR`].
    async fn stream_down(&self, id: u64, token: &str) -> Result<f64, OpsError> {
        let addr = self.raft_addr_of(id)?;
        let (client, base) = self
            .inner
            .network
            .client_for(id, &addr)
            .await
            .map_err(|e| self.unreachable(id, e))?;
        let body = Bytes::from(vec![0u8; UPLOAD_BODY]);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < STREAM_FOR {
            let resp = client
                .post(format!("{base}/ops/speed/recv"))
                .header(VERSION_HEADER, version::header_value())
                .header(TOKEN_HEADER, token)
                .timeout(STREAM_FOR + Duration::from_secs(10))
                .body(body.clone())
                .send()
                .await
                .map_err(|e| self.unreachable(id, e))?;
            if !resp.status().is_success() {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                return Err(OpsError::Refused(format!(
                    "node {id} refused the upload ({status}): {text}"
                )));
            }
            let got: u64 = resp.json().await.map_err(|e| self.unreachable(id, e))?;
            sent += got;
        }
        Ok(mbps(sent, start.elapsed()))
    }

    /// Up: the tested node streams to us for [`STREAM_FOR`].
    async fn stream_up(&self, id: u64, token: &str) -> Result<f64, OpsError> {
        let addr = self.raft_addr_of(id)?;
        let (client, base) = self
            .inner
            .network
            .client_for(id, &addr)
            .await
            .map_err(|e| self.unreachable(id, e))?;
        let mut resp = client
            .post(format!("{base}/ops/speed/send"))
            .header(VERSION_HEADER, version::header_value())
            .timeout(STREAM_FOR + Duration::from_secs(10))
            .json(&token)
            .send()
            .await
            .map_err(|e| self.unreachable(id, e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(OpsError::Refused(format!(
                "node {id} refused to stream ({status}): {text}"
            )));
        }
        let start = Instant::now();
        let mut got = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(id, e))? {
            got += chunk.len() as u64;
        }
        Ok(mbps(got, start.elapsed()))
    }
}

/// The tested node downloads from its own `node.speedtest_url` for up to [`STREAM_FOR`].
pub(crate) async fn http_download(url: &str) -> Result<HttpSpeed, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(STREAM_FOR + Duration::from_secs(5))
        .build()
        .map_err(|e| format!("building an HTTP client: {e}"))?;
    let start = Instant::now();
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("node.speedtest_url {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "node.speedtest_url {url} answered {}",
            resp.status()
        ));
    }
    let mut bytes = 0u64;
    while start.elapsed() < STREAM_FOR {
        match resp.chunk().await {
            Ok(Some(c)) => bytes += c.len() as u64,
            Ok(None) => break,
            // The client's own timeout cutting a long download is the normal end.
            Err(e) if e.is_timeout() => break,
            Err(e) => return Err(format!("node.speedtest_url {url}: {e}")),
        }
    }
    Ok(HttpSpeed {
        url: url.to_string(),
        mbps: mbps(bytes, start.elapsed()),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lease_at_a_time_and_it_lapses_only_when_ended() {
        let s = Serving::default();
        s.begin("a").unwrap();
        assert!(s.begin("b").is_err(), "a second test is refused");
        assert!(s.holds("a") && !s.holds("b"));
        s.end("b");
        assert!(s.holds("a"), "another token cannot end the test");
        s.end("a");
        s.begin("b").unwrap();
    }

    #[test]
    fn mbps_is_bits_per_second() {
        assert_eq!(mbps(1_250_000, Duration::from_secs(1)), 10.0);
    }
}
