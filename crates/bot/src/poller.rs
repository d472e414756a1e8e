//! Long-polls getUpdates and turns each update into one `TelegramUpdate` proposal.
//!
//! The offset comes from the replicated state when a session starts, so a new leader picks
//! up exactly where the last committed update left off. Within a batch, updates of one chat
//! are proposed in order and chats in parallel; the next getUpdates (which confirms the batch
//! to Telegram) is only sent once every update of the batch is committed. Each proposal
//! carries the offset its batch was fetched with: every smaller id is handled, which is what
//! lets apply forget old ids.
//!
//! Before every getUpdates the leader lease is checked (`lease.rs`): a leader cut off from
//! its quorum stops polling, and a poll never outlives the lease, so two nodes never poll
//! at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use teloxide::types::Update;
use tokio::sync::watch;
use tokio::task::JoinSet;
use vpnkeeper_cluster::ProposeError;
use vpnkeeper_domain::{Actor, Applied, Command};

use crate::backoff::Backoff;
use crate::decide::decide;
use crate::entropy::OsEntropy;
use crate::lease::{PollPermit, SHORT_POLL_PAUSE};
use crate::snapshot;
use crate::telegram::{PermanentKind, TgError};
use crate::update::{chat_key, incoming};
use crate::{sleep_or_stop, Ctx};

/// Updates per getUpdates (the Bot API maximum).
const BATCH: u8 = 100;

pub(crate) async fn run(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new();
    if connect(&ctx, &mut stop, &mut backoff).await {
        poll(&ctx, &mut stop, &mut backoff).await;
    }
}

/// Start-up: who we are, and no webhook in the way of getUpdates. Retries until it works;
/// false when stopped first.
async fn connect(ctx: &Ctx, stop: &mut watch::Receiver<bool>, backoff: &mut Backoff) -> bool {
    loop {
        let setup = async {
            let me = ctx.tg.get_me().await?;
            ctx.tg.delete_webhook().await?;
            Ok::<_, TgError>(me)
        };
        let r = tokio::select! {
            r = setup => r,
            _ = stop.wait_for(|s| *s) => return false,
        };
        match r {
            Ok(me) => {
                tracing::info!(bot = %me.username, "Telegram bot connected");
                backoff.reset();
                return true;
            }
            Err(e) => {
                let d = backoff.next_delay();
                log_failure(&e, d, "cannot reach the Telegram Bot API");
                if !sleep_or_stop(d, stop).await {
                    return false;
                }
            }
        }
    }
}

/// The polling loop, until stopped: one getUpdates per leader lease, each batch proposed.
async fn poll(ctx: &Arc<Ctx>, stop: &mut watch::Receiver<bool>, backoff: &mut Backoff) {
    // Read after the first lease: a confirmed lease means the entries of the previous
    // leader are applied here, so the offset is the committed one, not a stale one.
    let mut offset: Option<i64> = None;
    let mut cut_off = false;
    loop {
        if *stop.borrow() {
            return;
        }
        // The leader lease, before every getUpdates: a leader cut off from its quorum must
        // not poll (another may lead by now), and no poll may outlive the lease.
        let (timeout, deadline) = match ctx.lease.permit(ctx.settings.poll_timeout).await {
            PollPermit::Poll { timeout, deadline } => {
                if std::mem::take(&mut cut_off) {
                    tracing::info!("leader lease confirmed again: polling Telegram");
                }
                (timeout, deadline)
            }
            PollPermit::Renew => {
                if !std::mem::replace(&mut cut_off, true) {
                    tracing::warn!(
                        "leader lease not confirmed by a quorum: not polling Telegram until it is"
                    );
                }
                if !sleep_or_stop(SHORT_POLL_PAUSE, stop).await {
                    return;
                }
                continue;
            }
        };
        let permitted_at = tokio::time::Instant::now();
        let Some(from) = offset else {
            // Read under the first lease of the session: confirming it waited until the
            // previous leader's entries were applied here, so this is the committed offset.
            match resume_offset(ctx, stop).await {
                Some(o) => offset = Some(o),
                None => return,
            }
            continue;
        };
        let lease = (permitted_at, deadline);
        let answer = match get_updates_within_lease(ctx, from, timeout, lease, stop).await {
            Polled::Answer(r) => r,
            Polled::LeaseOver => continue,
            Polled::Stopped => return,
        };
        if !handle_answer(ctx, answer, from, timeout, &mut offset, backoff, stop).await {
            return;
        }
    }
}

/// What a getUpdates under the lease came to.
enum Polled {
    Answer(Result<Vec<Update>, TgError>),
    /// The lease ended before the answer (or before the request was sent): ask again.
    LeaseOver,
    Stopped,
}

/// One getUpdates, given up when the lease (`deadline` after `permitted_at`) ends first.
async fn get_updates_within_lease(
    ctx: &Ctx,
    from: i64,
    timeout: Duration,
    (permitted_at, deadline): (tokio::time::Instant, Option<Duration>),
    stop: &mut watch::Receiver<bool>,
) -> Polled {
    // An update the long poll returns after stop is not lost: it was not confirmed.
    // Nor is one whose answer comes after the lease: the request is dropped unread.
    let poll = async {
        // A process frozen (SIGSTOP) between the permit and here wakes with a lease that
        // may be over: it must not send the request then.
        if deadline.is_some_and(|d| permitted_at.elapsed() >= d) {
            return None;
        }
        Some(ctx.tg.get_updates(from, BATCH, timeout).await)
    };
    let lease_end = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(permitted_at + d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = lease_end => Polled::LeaseOver,
        r = poll => match r {
            Some(r) => Polled::Answer(r),
            None => Polled::LeaseOver,
        },
        _ = stop.wait_for(|s| *s) => Polled::Stopped,
    }
}

/// Proposes a batch and moves `offset` past it, or waits out a failure. False when stopped.
async fn handle_answer(
    ctx: &Arc<Ctx>,
    answer: Result<Vec<Update>, TgError>,
    from: i64,
    timeout: Duration,
    offset: &mut Option<i64>,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    match answer {
        Ok(updates) => {
            if backoff.failures() > 0 {
                tracing::info!("Telegram Bot API reachable again");
            }
            backoff.reset();
            let Some(max) = updates.iter().map(|u| u.id.0 as i64).max() else {
                // A short poll (a fleet's lease is short) answers at once: pace them.
                return !timeout.is_zero() || sleep_or_stop(SHORT_POLL_PAUSE, stop).await;
            };
            // In flight: finishes even if a stop arrives meanwhile.
            if handle_batch(ctx, updates, from).await {
                *offset = Some(from.max(max + 1));
                true
            } else {
                // Some proposal failed (leadership moving?). Resume from what is
                // committed; redelivered updates that were handled are ignored by apply.
                *offset = None;
                sleep_or_stop(Duration::from_secs(1), stop).await
            }
        }
        Err(TgError::RetryAfter(d)) => {
            tracing::info!(wait = ?d, "Telegram flood control on getUpdates; waiting as told");
            sleep_or_stop(d, stop).await
        }
        Err(e) => {
            let d = backoff.next_delay();
            log_failure(&e, d, "getUpdates failed");
            sleep_or_stop(d, stop).await
        }
    }
}

fn log_failure(e: &TgError, retry_in: Duration, what: &str) {
    match e {
        TgError::Permanent(PermanentKind::Unauthorized, _) => tracing::error!(
            error = %e, retry_in = ?retry_in,
            "{what}: the bot token is not valid; set telegram.token to the token from @BotFather"
        ),
        _ => tracing::warn!(error = %e, retry_in = ?retry_in, "{what}"),
    }
}

async fn resume_offset(ctx: &Ctx, stop: &mut watch::Receiver<bool>) -> Option<i64> {
    let mut backoff = Backoff::new();
    loop {
        match ctx.read().tg_next_offset().await {
            Ok(o) => return Some(o),
            Err(e) => {
                let d = backoff.next_delay();
                tracing::error!(error = %e, retry_in = ?d, "cannot read the Telegram offset");
                if !sleep_or_stop(d, stop).await {
                    return None;
                }
            }
        }
    }
}

/// Handles one getUpdates batch; true when every update is committed (or ignorable).
async fn handle_batch(ctx: &Arc<Ctx>, updates: Vec<Update>, offset: i64) -> bool {
    let fetched = Instant::now();
    let mut by_chat: BTreeMap<i64, Vec<Update>> = BTreeMap::new();
    for u in updates {
        match chat_key(&u) {
            Some(chat) => by_chat.entry(chat).or_default().push(u),
            None => tracing::debug!(
                update = u.id.0,
                "update ignored (not a private chat or not handled)"
            ),
        }
    }
    let mut tasks = JoinSet::new();
    for (_, updates) in by_chat {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            for u in updates {
                if !handle_one(&ctx, &u, offset).await {
                    return false;
                }
            }
            true
        });
    }
    let mut all = true;
    while let Some(r) = tasks.join_next().await {
        all &= r.unwrap_or(false);
    }
    tracing::debug!(elapsed = ?fetched.elapsed(), "update batch handled");
    all
}

/// Decides and proposes one update; true when it is committed (now or before).
async fn handle_one(ctx: &Ctx, update: &Update, offset: i64) -> bool {
    let update_id = update.id.0 as i64;
    let Some(inc) = incoming(update) else {
        return true;
    };
    // Redelivered after a crash or leader change: apply would ignore it anyway.
    match ctx.read().tg_is_handled(update_id).await {
        Ok(true) => return true,
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read the handled updates");
            return false;
        }
    }
    let snap = match snapshot::load(ctx, &inc).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(update = update_id, error = %e, "cannot read the state to handle an update");
            return false;
        }
    };
    let plan = decide(
        &inc,
        &snap,
        &mut OsEntropy {
            sealer: &ctx.sealer,
        },
    );
    let actor = Actor::Telegram {
        telegram_id: inc.telegram_id(),
    };
    let mut command = Command::TelegramUpdate {
        update_id,
        offset,
        commands: plan.commands,
        outbox: plan.outbox,
    };
    if let Err(e) = command.validate() {
        // Should not happen (decide checks its input); mark the update handled without
        // effects rather than retrying something that can never pass.
        tracing::error!(update = update_id, error = %e, "update produced an invalid command; ignored");
        command = Command::TelegramUpdate {
            update_id,
            offset,
            commands: Vec::new(),
            outbox: Vec::new(),
        };
    }
    let mut backoff = Backoff::new();
    for attempt in 1..=3 {
        match ctx.propose(actor.clone(), command.clone()).await {
            Ok(Ok(Applied::Telegram { duplicate })) => {
                if duplicate {
                    tracing::debug!(update = update_id, "update was handled before");
                }
                ctx.outbox_kick.notify_one();
                ctx.broadcast_kick.notify_one();
                return true;
            }
            Ok(other) => {
                tracing::error!(update = update_id, outcome = ?other, "unexpected outcome of a Telegram update");
                return true;
            }
            Err(ProposeError::Fatal { reason }) => {
                tracing::error!(
                    update = update_id,
                    reason,
                    "cannot commit a Telegram update"
                );
                return false;
            }
            Err(e) => {
                if !ctx.cluster.is_leader() || attempt == 3 {
                    tracing::warn!(update = update_id, error = %e, "Telegram update not committed; it will be redelivered");
                    return false;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
    false
}
