//! The node card's telemetry (issue #14): the node's current values as text under its card,
//! and a chart photo of CPU and network with range buttons (1h / 6h / 24h); pressing one
//! redraws the photo in place (editMessageMedia). An offline node shows when it was last
//! seen instead of a chart.
//!
//! The values come from the node itself over the node RPC (`Cluster::node_metrics`), read
//! when the row is performed, so the card and chart show the node as it is then.

use std::time::Duration;

use teloxide::types::InlineKeyboardMarkup;
use vpnkeeper_domain::telemetry::{ChartMetric, Range};
use vpnkeeper_domain::{Node, NodeId};
use vpnkeeper_telemetry::{chart, Words};

use super::{btn, kb, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::Out;
use crate::texts::{bytes, html, s, t, tr, Lang};
use crate::update::Kind;
use crate::Ctx;

/// How long the card waits for a node's current values.
const NOW_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a chart waits for a node's series.
const SERIES_TIMEOUT: Duration = Duration::from_secs(5);

// ---- decide ----

/// The chart that goes with a node card just shown: the last hour, as a new photo.
pub(crate) fn first_chart(turn: &mut Turn<'_>, id: NodeId) {
    let lang = turn.lang;
    turn.out(Out::NodeChart {
        lang,
        node_id: id,
        range: Range::Hour,
        edit: None,
    });
}

/// A range button on a chart: the chart redrawn over `range`, in place.
pub(crate) fn chart(turn: &mut Turn<'_>, id: NodeId, range: Range) {
    if turn.snap.node.as_ref().is_none_or(|n| n.id != id) {
        turn.outdated();
        return;
    }
    turn.answer(None, false);
    let edit = match turn.inc.kind {
        Kind::Callback { message_id, .. } => message_id,
        _ => None,
    };
    let lang = turn.lang;
    turn.out(Out::NodeChart {
        lang,
        node_id: id,
        range,
        edit,
    });
}

// ---- load ----

/// The card's current values of node `id`, or when it was last seen if it does not answer.
pub(super) async fn load(ctx: &Ctx, id: NodeId, view: &mut View) {
    match ctx.cluster.node_metrics(id, None, NOW_TIMEOUT).await {
        Ok(m) => view.node_now = m.current,
        Err(e) => {
            tracing::debug!(node = id, error = %e, "node card without current values");
            view.node_last_seen_ms = last_seen(ctx, id);
        }
    }
}

/// Unix ms of the leader's last exchange with node `id`.
fn last_seen(ctx: &Ctx, id: NodeId) -> Option<i64> {
    ctx.cluster
        .local_members()
        .into_iter()
        .find(|m| m.id == id)
        .and_then(|m| m.last_contact_ms)
}

/// A chart photo, or the text an offline node gets instead.
pub(crate) enum ChartReply {
    Photo {
        png: Vec<u8>,
        caption: String,
        keyboard: Option<InlineKeyboardMarkup>,
    },
    Text(String),
}

/// Node `id`'s chart over `range`; `None` when the node is gone (nothing to show).
pub(crate) async fn chart_reply(
    ctx: &Ctx,
    lang: Lang,
    id: NodeId,
    range: Range,
) -> Option<ChartReply> {
    let node = ctx.read().node(id).await.ok().flatten()?;
    let metrics = match ctx
        .cluster
        .node_metrics(id, Some(range), SERIES_TIMEOUT)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(node = id, error = %e, "no chart: the node did not answer");
            return Some(ChartReply::Text(offline_text(
                lang,
                &node,
                last_seen(ctx, id),
                crate::now_ms(),
            )));
        }
    };
    let now = crate::now_ms();
    let name = node.name.clone();
    let drawn = tokio::task::spawn_blocking(move || {
        let words = words(lang);
        let panels = [
            chart::panel(ChartMetric::Cpu, &metrics.series, &words, &name),
            chart::panel(ChartMetric::Net, &metrics.series, &words, &name),
        ];
        chart::render_png(&panels, now - range.millis(), now, &words)
    })
    .await;
    match drawn {
        Ok(Ok(png)) => Some(ChartReply::Photo {
            png,
            caption: tr(
                lang,
                "chart-caption",
                &[
                    ("name", s(html(&node.name))),
                    ("range", s(range_label(lang, range))),
                ],
            ),
            keyboard: range_buttons(lang, id, range),
        }),
        Ok(Err(e)) => {
            tracing::error!(node = id, error = %e, "node chart not drawn");
            None
        }
        Err(e) => {
            tracing::error!(node = id, error = %e, "node chart drawing stopped");
            None
        }
    }
}

// ---- render ----

/// The chart's words in `lang`.
fn words(lang: Lang) -> Words {
    Words {
        time_axis: t(lang, "chart-time-axis"),
        cpu_title: t(lang, "chart-cpu"),
        cpu_axis: t(lang, "chart-cpu-axis"),
        net_title: t(lang, "chart-net"),
        net_axis: t(lang, "chart-net-axis"),
        net_rx: t(lang, "chart-net-rx"),
        net_tx: t(lang, "chart-net-tx"),
        ram_title: t(lang, "chart-ram"),
        ram_axis: t(lang, "chart-ram-axis"),
        no_data: t(lang, "chart-no-data"),
    }
}

fn range_label(lang: Lang, range: Range) -> String {
    t(
        lang,
        match range {
            Range::Hour => "chart-range-1h",
            Range::SixHours => "chart-range-6h",
            Range::Day => "chart-range-24h",
        },
    )
}

/// 1h / 6h / 24h under the chart; the shown range is marked.
fn range_buttons(lang: Lang, id: NodeId, shown: Range) -> Option<InlineKeyboardMarkup> {
    let row = Range::ALL
        .into_iter()
        .map(|r| {
            let label = range_label(lang, r);
            let label = if r == shown {
                format!("• {label}")
            } else {
                label
            };
            btn(label, Cb::NodeChart(id, r))
        })
        .collect();
    kb(vec![row])
}

/// "Offline, last seen at …" for a node that did not answer.
fn offline_text(lang: Lang, node: &Node, last_seen_ms: Option<i64>, now_ms: i64) -> String {
    tr(
        lang,
        "chart-offline",
        &[
            ("name", s(html(&node.name))),
            ("seen", s(seen_text(lang, last_seen_ms, now_ms))),
        ],
    )
}

fn seen_text(lang: Lang, last_seen_ms: Option<i64>, now_ms: i64) -> String {
    match last_seen_ms {
        None => t(lang, "node-never-seen"),
        Some(at) => tr(
            lang,
            "node-seen-at",
            &[
                ("time", s(utc_clock(at))),
                ("ago", s(ago(lang, (now_ms - at).max(0) / 1000))),
            ],
        ),
    }
}

/// `YYYY-MM-DD HH:MM` UTC of a unix-ms time.
fn utc_clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        day_secs / 3600,
        day_secs % 3600 / 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A duration in the largest fitting units: "3 d 4 h", "5 min".
fn ago(lang: Lang, secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let unit = |key: &str, n: i64| tr(lang, key, &[("n", s(n.to_string()))]);
    if d > 0 {
        format!("{} {}", unit("unit-days", d), unit("unit-hours", h))
    } else if h > 0 {
        format!("{} {}", unit("unit-hours", h), unit("unit-minutes", m))
    } else {
        unit("unit-minutes", m)
    }
}

/// The lines the node card shows under its status: current values, or when it was last
/// seen.
pub(super) fn current_text(lang: Lang, view: &View, now_ms: i64) -> String {
    let Some(now) = &view.node_now else {
        return format!("\n{}", seen_text(lang, view.node_last_seen_ms, now_ms));
    };
    let mbit = |bps: f64| format!("{:.2}", bps * 8.0 / 1_000_000.0);
    let mut text = format!(
        "\n{}",
        tr(
            lang,
            "node-now",
            &[
                ("cpu", s(format!("{:.1}", now.cpu_pct))),
                (
                    "load",
                    s(format!(
                        "{:.2} / {:.2} / {:.2}",
                        now.load[0], now.load[1], now.load[2]
                    )),
                ),
                ("ram_used", s(bytes(now.mem_used_bytes as i64))),
                ("ram_total", s(bytes(now.mem_total_bytes as i64))),
                ("disk_used", s(bytes(now.disk_used_bytes as i64))),
                ("disk_total", s(bytes(now.disk_total_bytes as i64))),
                ("rx", s(mbit(now.net_rx_bps))),
                ("tx", s(mbit(now.net_tx_bps))),
                ("uptime", s(ago(lang, now.uptime_secs as i64))),
                ("rss", s(bytes(now.rss_bytes as i64))),
            ],
        )
    );
    // Planes with devices on them (an empty plane says nothing).
    for p in now.planes.iter().filter(|p| p.configured > 0) {
        text.push('\n');
        text.push_str(&tr(
            lang,
            "node-plane-peers",
            &[
                ("plane", s(p.plane.clone())),
                ("active", s(p.active.to_string())),
                ("configured", s(p.configured.to_string())),
            ],
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(utc_clock(1_700_000_000_000), "2023-11-14 22:13");
        assert_eq!(utc_clock(0), "1970-01-01 00:00");
        assert_eq!(ago(Lang::En, 3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
        assert_eq!(ago(Lang::En, 125), "2 min");
        assert_eq!(ago(Lang::Ru, 3700), "1 ч 1 мин");
    }

    #[test]
    fn offline_says_when_last_seen() {
        let node = Node {
            id: 2,
            name: "fra-1".into(),
            raft_addr: String::new(),
            api_addr: String::new(),
            public_host: "h".into(),
            wireguard: None,
            xray: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let text = offline_text(Lang::En, &node, Some(1_700_000_000_000), 1_700_000_300_000);
        assert!(text.contains("fra-1"), "{text}");
        assert!(text.contains("2023-11-14 22:13"), "{text}");
        assert!(text.contains("5 min"), "{text}");
        let never = offline_text(Lang::Ru, &node, None, 0);
        assert!(never.contains("никогда"), "{never}");
    }

    #[test]
    fn range_buttons_mark_the_shown_one() {
        let k = range_buttons(Lang::En, 3, Range::SixHours).unwrap();
        let row = &k.inline_keyboard[0];
        assert_eq!(row.len(), 3);
        let texts: Vec<&str> = row.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["1h", "• 6h", "24h"]);
    }
}
