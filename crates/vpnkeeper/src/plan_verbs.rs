//! `vpnkeeper plan add|list|archive`: clients of `/api/v1/plans` (issue #15), like the
//! `user` and `device` verbs. The view holds only what the table prints.

use anyhow::{bail, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::ApiClient;
use crate::verbs::print_json_list;
use crate::{OutputFormat, PlanCmd};

/// `GET /api/v1/plans` item / `POST /api/v1/plans` answer.
#[derive(Debug, Deserialize)]
struct PlanView {
    id: i64,
    name: String,
    duration_days: i64,
    traffic_limit_bytes: i64,
    device_limit: i64,
    reset_strategy: String,
    reset_day: Option<i64>,
    price_stars: i64,
    archived: bool,
}

#[derive(Debug, Deserialize)]
struct PlanList {
    plans: Vec<PlanView>,
}

pub async fn plan_cmd(api: &ApiClient, cmd: PlanCmd) -> Result<()> {
    match cmd {
        PlanCmd::Add {
            name,
            days,
            quota,
            devices,
            reset,
            reset_day,
            price,
        } => {
            let quota = parse_bytes(&quota).map_err(|e| anyhow::anyhow!("--quota: {e}"))?;
            let body = json!({
                "name": name, "duration_days": days, "traffic_limit_bytes": quota,
                "device_limit": devices, "reset_strategy": reset, "reset_day": reset_day,
                "price_stars": price,
            });
            let (_, plan): (_, PlanView) =
                api.call(Method::POST, "/api/v1/plans", Some(body)).await?;
            println!("{}", plan.id);
        }
        PlanCmd::List { archived, output } => {
            let path = format!("/api/v1/plans?archived={archived}");
            if output == OutputFormat::Json {
                return print_json_list(api, &path, "plans").await;
            }
            let (_, list): (_, PlanList) = api.call(Method::GET, &path, None).await?;
            print!("{}", plan_table(&list.plans));
        }
        PlanCmd::Archive { plan } => {
            let id = resolve(api, &plan).await?;
            let path = format!("/api/v1/plans/{id}/archive");
            let _: (_, serde::de::IgnoredAny) = api.call(Method::POST, &path, None).await?;
            eprintln!("plan {plan} archived; users on it keep their terms until they end");
        }
    }
    Ok(())
}

/// A plan given by id or by name (the API addresses plans by id).
async fn resolve(api: &ApiClient, plan: &str) -> Result<i64> {
    if let Ok(id) = plan.parse::<i64>() {
        return Ok(id);
    }
    let (_, list): (_, PlanList) = api
        .call(Method::GET, "/api/v1/plans?archived=true", None)
        .await?;
    match list.plans.iter().find(|p| p.name == plan) {
        Some(p) => Ok(p.id),
        None => bail!("no plan named {plan:?}; `vpnkeeper plan list --archived` shows them"),
    }
}

/// `0` / `unlimited`, plain bytes, or a number with K, M, G or T (powers of 1024, an
/// optional `B`/`iB`): `50G`, `1.5GiB`, `500MB`.
pub(crate) fn parse_bytes(s: &str) -> Result<i64, String> {
    use vpnkeeper_domain::size::{parse_size, SizeError};
    parse_size(s).map_err(|e| match e {
        SizeError::NotASize => format!("{s:?} is not a size; write bytes or e.g. 500M, 50G, 1T"),
        SizeError::TooLarge => format!("{s:?} is too large"),
    })
}

fn human_bytes(b: i64) -> String {
    if b == 0 {
        return "unlimited".into();
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

fn plan_table(plans: &[PlanView]) -> String {
    let mut out = format!(
        "{:<6} {:<20} {:>6} {:<12} {:<8} {:<16} {:>6} STATE\n",
        "ID", "NAME", "DAYS", "QUOTA", "DEVICES", "RESET", "STARS"
    );
    for p in plans {
        let reset = match p.reset_day {
            Some(d) => format!("{} {d}", p.reset_strategy),
            None => p.reset_strategy.clone(),
        };
        let devices = match p.device_limit {
            0 => "any".to_string(),
            n => n.to_string(),
        };
        out.push_str(&format!(
            "{:<6} {:<20} {:>6} {:<12} {:<8} {:<16} {:>6} {}\n",
            p.id,
            p.name,
            p.duration_days,
            human_bytes(p.traffic_limit_bytes),
            devices,
            reset,
            p.price_stars,
            if p.archived { "archived" } else { "active" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units_and_refuse_nonsense() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("unlimited"), Ok(0));
        assert_eq!(parse_bytes("2048"), Ok(2048));
        assert_eq!(parse_bytes("50G"), Ok(50 << 30));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes("500mb"), Ok(500 << 20));
        assert!(parse_bytes("-5G").unwrap_err().contains("not a size"));
        assert!(parse_bytes("5 parsecs").unwrap_err().contains("not a size"));
        assert!(parse_bytes("99999999T").unwrap_err().contains("too large"));
    }

    #[test]
    fn table_shows_units_limits_and_state() {
        let list: PlanList = serde_json::from_value(json!({"plans": [
            {"id": 1, "name": "monthly", "duration_days": 30, "traffic_limit_bytes": 53687091200i64,
             "device_limit": 3, "reset_strategy": "day_of_month", "reset_day": 31,
             "price_stars": 150, "archived": false, "created_at_ms": 1, "updated_at_ms": 1},
            {"id": 2, "name": "old", "duration_days": 7, "traffic_limit_bytes": 0,
             "device_limit": 0, "reset_strategy": "no_reset", "reset_day": null,
             "price_stars": 0, "archived": true, "created_at_ms": 1, "updated_at_ms": 1}
        ]}))
        .unwrap();
        let t = plan_table(&list.plans);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("50 GiB"), "{t}");
        assert!(lines[1].contains("day_of_month 31"), "{t}");
        assert!(lines[1].ends_with("active"), "{t}");
        assert!(
            lines[2].contains("unlimited") && lines[2].contains("any"),
            "{t}"
        );
        assert!(lines[2].ends_with("archived"), "{t}");
    }
}
