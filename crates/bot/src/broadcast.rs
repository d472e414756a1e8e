//! Sends a broadcast to every enabled user with a Telegram id, one message at a time at no
//! more than `broadcast_per_sec`, and records progress after each message (cursor = user id),
//! so a restart or a new leader resumes with the next user, repeating at most the one
//! message whose progress report was cut off.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use vpnkeeper_domain::telegram::Broadcast;
use vpnkeeper_domain::Command;

use crate::backoff::Backoff;
use crate::outbox::{Notice, Out};
use crate::snapshot::stored_lang;
use crate::telegram::TgError;
use crate::texts::Lang;
use crate::{sleep_or_stop, Ctx};

pub(crate) async fn run(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let per_sec = ctx.settings.broadcast_per_sec.clamp(1, 30);
    let mut pace = tokio::time::interval(Duration::from_millis(1000 / per_sec as u64));
    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut read_backoff = Backoff::new();
    let mut step_backoff = Backoff::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let active = match ctx.read().tg_active_broadcast().await {
            Ok(b) => {
                read_backoff.reset();
                b
            }
            Err(e) => {
                let d = read_backoff.next_delay();
                tracing::warn!(error = %e, "cannot read broadcasts");
                if !sleep_or_stop(d, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let Some(b) = active else {
            tokio::select! {
                _ = ctx.broadcast_kick.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        };
        if step(&ctx, &b, &mut pace, &mut stop).await {
            step_backoff.reset();
            continue;
        }
        if *stop.borrow() {
            return;
        }
        // Progress could not be committed (no quorum for a moment, a leader change in
        // flight): pause, then resume from the last committed cursor. Giving up here would
        // stall the broadcast until the next restart.
        let d = step_backoff.next_delay();
        if !sleep_or_stop(d, &mut stop).await {
            return;
        }
    }
}

/// Sends to the next few recipients; false when stopped or progress could not be committed.
async fn step(
    ctx: &Ctx,
    b: &Broadcast,
    pace: &mut tokio::time::Interval,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let recipients = match ctx.read().tg_recipients(b.cursor, 25).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read broadcast recipients");
            return sleep_or_stop(Duration::from_secs(1), stop).await;
        }
    };
    let (mut sent, mut failed) = (b.sent, b.failed);
    if recipients.is_empty() {
        let lang = stored_lang(ctx.read(), b.admin_chat)
            .await
            .ok()
            .flatten()
            .unwrap_or(Lang::En);
        let notify = vec![Out::Notice {
            lang,
            notice: Notice::BroadcastDone { sent, failed },
        }
        .to(b.admin_chat)];
        let ok = progress(ctx, b, b.cursor, sent, failed, true, notify).await;
        if ok {
            tracing::info!(broadcast = %b.id, sent, failed, "broadcast finished");
            ctx.outbox_kick.notify_one();
        }
        return ok;
    }
    for (user_id, telegram_id) in recipients {
        let mut backoff = Backoff::new();
        loop {
            tokio::select! {
                _ = pace.tick() => {}
                _ = stop.wait_for(|s| *s) => return false,
            }
            // A leader cut off from its quorum sends nothing: another may be sending.
            if !ctx.lease.held().await {
                return false;
            }
            match ctx.tg.send_text(telegram_id, &b.text, false, None).await {
                Ok(_) => {
                    sent += 1;
                    break;
                }
                Err(TgError::RetryAfter(d)) => {
                    tracing::info!(wait = ?d, "flood control during a broadcast; waiting as told");
                    if !sleep_or_stop(d, stop).await {
                        return false;
                    }
                }
                Err(TgError::Transient(e)) => {
                    let d = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?d, "broadcast message failed; retrying");
                    if !sleep_or_stop(d, stop).await {
                        return false;
                    }
                }
                Err(e @ TgError::Permanent(..)) => {
                    // Blocked the bot, deleted the account…: counted, not retried.
                    tracing::debug!(error = %e, "broadcast message not deliverable");
                    failed += 1;
                    break;
                }
            }
        }
        if !progress(ctx, b, user_id, sent, failed, false, Vec::new()).await {
            return false;
        }
    }
    true
}

async fn progress(
    ctx: &Ctx,
    b: &Broadcast,
    cursor: i64,
    sent: i64,
    failed: i64,
    finished: bool,
    notify: Vec<vpnkeeper_domain::telegram::OutboxItem>,
) -> bool {
    let command = Command::BroadcastProgress {
        broadcast_id: b.id.clone(),
        cursor,
        sent,
        failed,
        finished,
        notify,
    };
    match ctx.propose(ctx.system(), command).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot record broadcast progress; pausing the broadcast");
            false
        }
    }
}
