//! `vpnkeeper promo create|list|disable` and `vpnkeeper balance show|credit|debit`
//! (issue #16): clients of `/api/v1/promo-codes` and `/api/v1/users/{user}/balance`.

use anyhow::{bail, Result};
use clap::Subcommand;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::ApiClient;
use crate::plan_verbs::parse_bytes;
use crate::verbs::print_json_list;
use crate::OutputFormat;

const DAY_MS: i64 = 86_400_000;

#[derive(Subcommand)]
pub(crate) enum PromoCmd {
    /// Create a promo code: exactly one of --days, --traffic, --discount.
    Create {
        /// 3–32 latin letters, digits, `-`, `_` (case-insensitive).
        code: String,
        /// Days added to the user's expiry.
        #[arg(long)]
        days: Option<i64>,
        /// Traffic added to the user's quota: bytes, or 500M, 50G, 1T.
        #[arg(long)]
        traffic: Option<String>,
        /// Percent off the user's next purchase (1–100).
        #[arg(long)]
        discount: Option<i64>,
        /// How many users may redeem it (each once).
        #[arg(long)]
        max_uses: i64,
        /// Days from now after which it is refused; unset = never.
        #[arg(long)]
        valid_days: Option<i64>,
    },
    /// List promo codes with their uses.
    List {
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Disable a promo code (redemptions already made stay).
    Disable { code: String },
}

#[derive(Subcommand)]
pub(crate) enum BalanceCmd {
    /// Print a user's balance in Stars and the latest movements.
    Show { user: String },
    /// Add Stars to a user's balance.
    Credit {
        user: String,
        amount: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Take Stars from a user's balance (refused below zero).
    Debit {
        user: String,
        amount: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct PromoView {
    code: String,
    kind: String,
    amount: i64,
    max_uses: i64,
    uses: i64,
    expires_at_ms: Option<i64>,
    disabled: bool,
}

#[derive(Debug, Deserialize)]
struct PromoList {
    promo_codes: Vec<PromoView>,
}

#[derive(Debug, Deserialize)]
struct Ledger {
    delta: i64,
    reason: String,
    actor: String,
}

#[derive(Debug, Deserialize)]
struct BalanceView {
    user_id: i64,
    stars: i64,
    ledger: Vec<Ledger>,
}

/// The `kind` and `amount` of the body from the three exclusive flags.
fn grant(
    days: Option<i64>,
    traffic: Option<String>,
    discount: Option<i64>,
) -> Result<(&'static str, i64)> {
    match (days, traffic, discount) {
        (Some(d), None, None) => Ok(("days", d)),
        (None, Some(t), None) => Ok((
            "traffic",
            parse_bytes(&t).map_err(|e| anyhow::anyhow!("--traffic: {e}"))?,
        )),
        (None, None, Some(p)) => Ok(("discount", p)),
        _ => bail!("give exactly one of --days, --traffic, --discount"),
    }
}

pub async fn promo_cmd(api: &ApiClient, cmd: PromoCmd) -> Result<()> {
    match cmd {
        PromoCmd::Create {
            code,
            days,
            traffic,
            discount,
            max_uses,
            valid_days,
        } => {
            let (kind, amount) = grant(days, traffic, discount)?;
            let expires = valid_days.map(|d| now_ms() + d * DAY_MS);
            let body = json!({"code": code, "kind": kind, "amount": amount,
                "max_uses": max_uses, "expires_at_ms": expires});
            let (_, p): (_, PromoView) = api
                .call(Method::POST, "/api/v1/promo-codes", Some(body))
                .await?;
            println!("{}", p.code);
        }
        PromoCmd::List { output } => {
            let path = "/api/v1/promo-codes";
            if output == OutputFormat::Json {
                return print_json_list(api, path, "promo_codes").await;
            }
            let (_, list): (_, PromoList) = api.call(Method::GET, path, None).await?;
            print!("{}", promo_table(&list.promo_codes));
        }
        PromoCmd::Disable { code } => {
            let path = format!("/api/v1/promo-codes/{code}/disable");
            let (_, p): (_, PromoView) = api.call(Method::POST, &path, None).await?;
            eprintln!(
                "promo code {} disabled after {} of {} uses",
                p.code, p.uses, p.max_uses
            );
        }
    }
    Ok(())
}

pub async fn balance_cmd(api: &ApiClient, cmd: BalanceCmd) -> Result<()> {
    let (user, body) = match cmd {
        BalanceCmd::Show { user } => {
            let path = format!("/api/v1/users/{user}/balance");
            let (_, b): (_, BalanceView) = api.call(Method::GET, &path, None).await?;
            println!("user {}: {} Stars", b.user_id, b.stars);
            for l in b.ledger {
                println!("{:>+8}  {:<24} {}", l.delta, l.actor, l.reason);
            }
            return Ok(());
        }
        BalanceCmd::Credit {
            user,
            amount,
            reason,
        } => (user, json!({"amount": amount, "reason": reason})),
        BalanceCmd::Debit {
            user,
            amount,
            reason,
        } => (user, json!({"amount": -amount, "reason": reason})),
    };
    let path = format!("/api/v1/users/{user}/balance");
    let (_, b): (_, BalanceView) = api.call(Method::POST, &path, Some(body)).await?;
    println!("{}", b.stars);
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn promo_table(codes: &[PromoView]) -> String {
    let mut out = format!(
        "{:<20} {:<9} {:>12} {:>10} STATE\n",
        "CODE", "KIND", "AMOUNT", "USES"
    );
    let now = now_ms();
    for c in codes {
        let amount = match c.kind.as_str() {
            "discount" => format!("{}%", c.amount),
            "days" => format!("{} days", c.amount),
            _ => format!("{} B", c.amount),
        };
        let state = if c.disabled {
            "disabled"
        } else if c.expires_at_ms.is_some_and(|e| e <= now) {
            "expired"
        } else if c.uses >= c.max_uses {
            "used up"
        } else {
            "active"
        };
        out.push_str(&format!(
            "{:<20} {:<9} {:>12} {:>10} {state}\n",
            c.code,
            c.kind,
            amount,
            format!("{}/{}", c.uses, c.max_uses)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grant_flag_exactly() {
        assert_eq!(grant(Some(7), None, None).unwrap(), ("days", 7));
        assert_eq!(
            grant(None, Some("1G".into()), None).unwrap(),
            ("traffic", 1 << 30)
        );
        assert_eq!(grant(None, None, Some(20)).unwrap(), ("discount", 20));
        assert!(grant(None, None, None).is_err());
        assert!(grant(Some(1), None, Some(2)).is_err());
        assert!(grant(None, Some("lots".into()), None)
            .unwrap_err()
            .to_string()
            .contains("--traffic"));
    }
}
