//! vpnkeeper's Telegram bot.
//!
//! Runs only on the Raft leader and stops the moment this node is not leader any more
//! ([`Bot::run`]). While leader, one session runs three loops:
//!
//! - the **poller** (`poller.rs`) long-polls getUpdates from the offset stored in the
//!   replicated state, reads what the update needs (`snapshot.rs`), decides what it means
//!   (`decide/`, a plain function; each screen family's part is in `screens/`) and
//!   proposes it as ONE `Command::TelegramUpdate` carrying the update id, the offset, the
//!   domain commands and the replies. Apply ignores an update id it has seen, so
//!   redelivery after a crash or a leader change changes nothing;
//! - the **sender** (`sender.rs`) performs the replicated outbox rows in order per chat,
//!   rendering each when it is sent (`render.rs`, `screens/`), and reports them done;
//! - the **broadcaster** (`broadcast.rs`) sends an admin's broadcast at ≤ 25 messages/s,
//!   recording its progress after every message so it resumes where it stopped.
//!
//! Network errors and 5xx answers back off exponentially with jitter (1 s → 60 s); flood
//! control (`retry_after`) is honoured. The bot token appears in no log line: errors that
//! quote request URLs are scrubbed in `telegram.rs`.

pub mod backoff;
pub mod backup_doc;
mod broadcast;
pub mod callback;
mod decide;
mod entropy;
pub mod leader;
pub mod lease;
pub mod node_ops;
pub mod outbox;
mod poller;
mod render;
mod screens;
mod sender;
mod snapshot;
pub mod telegram;
pub mod texts;
mod update;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use vpnkeeper_cluster::{Cluster, ProposeError, SubmitError};
use vpnkeeper_domain::secrets::Sealer;
use vpnkeeper_domain::wgconf::ClientOptions;
use vpnkeeper_domain::{Actor, ApplyOutcome, Command, CommandError};
use vpnkeeper_store::ReadStore;

pub use node_ops::NodeOps;

/// The bot token. Never printed: `Debug` shows a placeholder and there is no `Display`.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    /// Checks the shape BotFather hands out (`<bot id>:<secret>`), so a pasted wrong value
    /// fails at start with a clear message instead of as 404s from Telegram later.
    pub fn new(value: &str) -> Result<Token, String> {
        let v = value.trim();
        let Some((id, secret)) = v.split_once(':') else {
            return Err(
                "does not look like a bot token (expected `123456789:AA…` from @BotFather)".into(),
            );
        };
        let id_ok = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok || !secret_ok {
            return Err(
                "does not look like a bot token (expected `123456789:AA…` from @BotFather)".into(),
            );
        }
        Ok(Token(v.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The public half (the bot's user id), fine for logs.
    pub fn bot_id(&self) -> &str {
        self.0.split(':').next().unwrap_or("")
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}:<redacted>)", self.bot_id())
    }
}

/// Who may use the bot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Only `allowed_ids` (and admins), as AmneziaBot did.
    #[default]
    Allowlist,
    /// Anyone may ask; an admin approves or denies with inline buttons.
    Approval,
    /// Anyone.
    Open,
}

/// Everything the bot needs from the node's config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: Token,
    pub api_url: reqwest::Url,
    pub access: Access,
    pub allowed_ids: BTreeSet<i64>,
    pub admin_ids: BTreeSet<i64>,
    /// How long one getUpdates waits for updates.
    pub poll_timeout: Duration,
    /// Shapes client configs exactly as the API renders them.
    pub client_options: ClientOptions,
    /// Broadcast pace; Telegram allows about 30 messages per second to different chats.
    pub broadcast_per_sec: u32,
    /// Base URL of the API (`api.public_url`): a user's subscription URL is
    /// `<base>/sub/<token>`, shown under "My devices" for client apps to import.
    pub subscription_base: String,
    /// Trials and referrals (`[payments]`, issue #16).
    pub promo: PromoSettings,
}

/// The free trial and the referral reward, from the `[payments]` config section. The bot
/// puts them into the commands it proposes, so apply never reads config.
#[derive(Debug, Clone, Default)]
pub struct PromoSettings {
    /// The trial's plan id and length in days; `None` = no trial is offered.
    pub trial: Option<(i64, i64)>,
    /// What a referrer gets; `None` = referral links bind no one.
    pub referral_reward: Option<vpnkeeper_domain::command::referral::ReferralReward>,
}

/// The bot service of a node.
pub struct Bot {
    settings: Arc<Settings>,
    cluster: Cluster,
    sealer: Sealer,
    node_ops: Arc<dyn NodeOps>,
    backups: Option<Arc<dyn backup_doc::BackupMaker>>,
}

/// What the loops of one leadership session share.
pub(crate) struct Ctx {
    pub settings: Arc<Settings>,
    pub cluster: Cluster,
    pub sealer: Sealer,
    pub node_ops: Arc<dyn NodeOps>,
    /// Makes the scheduled backups sent to admins (`Out::Backup`).
    pub backups: Option<Arc<dyn backup_doc::BackupMaker>>,
    pub tg: telegram::Tg,
    /// Kicked after an entry added outbox rows, so replies go out at once.
    pub outbox_kick: Notify,
    /// Kicked when a broadcast may have started.
    pub broadcast_kick: Notify,
    /// Whether this leader may still act as the bot (see `lease.rs`).
    pub lease: lease::Lease,
}

impl Ctx {
    pub fn read(&self) -> &ReadStore {
        self.cluster.read()
    }

    pub fn is_admin(&self, telegram_id: i64) -> bool {
        self.settings.admin_ids.contains(&telegram_id)
    }

    pub async fn propose(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<ApplyOutcome, ProposeError> {
        match self.cluster.submit(actor, command).await {
            Ok(outcome) => Ok(outcome),
            // Refused before the log, like a refusal decided by the state: the callers
            // treat both the same (nothing changed, nothing to retry).
            Err(SubmitError::Invalid(e)) => Ok(Err(CommandError::invalid(&e.field, e.message))),
            Err(SubmitError::Propose(e)) => Err(e),
        }
    }

    /// The actor of the bot's own bookkeeping (delivered rows, broadcast progress).
    pub fn system(&self) -> Actor {
        Actor::System {
            node_id: self.cluster.node_id(),
        }
    }
}

pub(crate) use vpnkeeper_cluster::now_ms;

impl Bot {
    pub fn new(
        settings: Settings,
        cluster: Cluster,
        sealer: Sealer,
        node_ops: Arc<dyn NodeOps>,
    ) -> Bot {
        Bot {
            settings: Arc::new(settings),
            cluster,
            sealer,
            node_ops,
            backups: None,
        }
    }

    /// Lets the bot send scheduled backups to the admins (`Out::Backup` rows).
    pub fn with_backups(mut self, maker: Arc<dyn backup_doc::BackupMaker>) -> Bot {
        self.backups = Some(maker);
        self
    }

    /// Runs until `stop` turns true: a session while this node is leader, idle otherwise.
    /// On stop, the handlers in flight finish (their proposals commit, their replies are
    /// sent) before this returns; call it before shutting Raft down.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let tg = match telegram::Tg::new(
            &self.settings.token,
            self.settings.api_url.clone(),
            self.settings.poll_timeout,
        ) {
            Ok(tg) => tg,
            Err(e) => {
                tracing::error!(error = %e, "Telegram bot not started");
                return;
            }
        };
        metrics::describe_histogram!(
            sender::REPLY_RECORD_SECONDS,
            "Telegram replies: from Telegram accepting a reply to the commit of its record (the window in which a crash repeats it)"
        );
        let bot = self;
        leader::while_leader(
            bot.cluster.clone(),
            "Telegram bot",
            stop,
            move |session_stop| {
                let ctx = Arc::new(Ctx {
                    settings: bot.settings.clone(),
                    cluster: bot.cluster.clone(),
                    sealer: bot.sealer.clone(),
                    node_ops: bot.node_ops.clone(),
                    backups: bot.backups.clone(),
                    tg: tg.clone(),
                    outbox_kick: Notify::new(),
                    broadcast_kick: Notify::new(),
                    lease: lease::Lease::new(bot.cluster.clone()),
                });
                session(ctx, session_stop)
            },
        )
        .await;
    }
}

async fn session(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let poller = tokio::spawn(poller::run(ctx.clone(), stop.clone()));
    let sender = tokio::spawn(sender::run(ctx.clone(), stop.clone()));
    let broadcaster = tokio::spawn(broadcast::run(ctx.clone(), stop));
    for (name, task) in [
        ("poller", poller),
        ("sender", sender),
        ("broadcaster", broadcaster),
    ] {
        if let Err(e) = task.await {
            // A panic inside a loop is a bug; the other loops still finish their work.
            tracing::error!(task = name, error = %e, "Telegram bot task failed");
        }
    }
}

/// Sleeps `d` unless `stop` turns true first; returns false when stopped.
pub(crate) async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_and_redaction() {
        let t = Token::new("123456:AAH_x-y").unwrap();
        assert_eq!(format!("{t:?}"), "Token(123456:<redacted>)");
        for bad in ["", "abc", "123456", ":abc", "12a:abc", "123:a b", "123:"] {
            assert!(Token::new(bad).is_err(), "{bad:?}");
        }
    }
}
