//! Performs the replicated outbox: each row once, in order per chat, chats in parallel.
//!
//! A row is reported done (`TelegramDelivered`, which deletes it) right after it is performed.
//! Between Telegram accepting a message and that report committing there is a window of a
//! few milliseconds in which a crash makes the next leader send the row again: Telegram has
//! no idempotency keys, so that window can be narrowed but not closed. Edits, deletions and
//! callback answers are harmless to repeat; a node reboot is the exception and is reported
//! done *before* it is performed (at most once), so a leader rebooting itself cannot loop.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use vpnkeeper_cluster::{InviteError, SubmitError};
use vpnkeeper_domain::artifact::{ClientArtifact, Payload};
use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::telegram::{Delivered, OutboxRow};
use vpnkeeper_domain::{Actor, Command, Device, DeviceRef};

use crate::backoff::Backoff;
use crate::outbox::{Out, Outcomes};
use crate::render;
use crate::screens::{device_label, invite, protocol_label};
use crate::telegram::{PermanentKind, TgError};
use crate::texts::{html, s, t, tr, Lang};
use crate::{sleep_or_stop, Ctx};

/// Attempts at answering a button press: after ~15 s Telegram refuses the answer anyway.
const ANSWER_ATTEMPTS: u32 = 3;

pub(crate) async fn run(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let busy: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut workers = JoinSet::new();
    let mut read_backoff = Backoff::new();
    loop {
        if *stop.borrow() {
            break;
        }
        match ctx.read().tg_outbox(2000).await {
            Ok(rows) => {
                read_backoff.reset();
                let mut by_chat: BTreeMap<i64, Vec<OutboxRow>> = BTreeMap::new();
                for row in rows {
                    by_chat.entry(row.chat_id).or_default().push(row);
                }
                let mut busy_now = busy.lock().unwrap_or_else(|p| p.into_inner());
                for (chat, rows) in by_chat {
                    if busy_now.insert(chat) {
                        workers.spawn(work_chat(
                            ctx.clone(),
                            chat,
                            rows,
                            busy.clone(),
                            stop.clone(),
                        ));
                    }
                }
            }
            Err(e) => {
                let d = read_backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?d, "cannot read the Telegram outbox");
                if !sleep_or_stop(d, &mut stop).await {
                    break;
                }
                continue;
            }
        }
        tokio::select! {
            _ = ctx.outbox_kick.notified() => {}
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
            // Safety net: rows written by another path (a snapshot, a previous leader).
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => {}
        }
    }
    // Rows being performed finish (each worker stops before its next row).
    while workers.join_next().await.is_some() {}
}

async fn work_chat(
    ctx: Arc<Ctx>,
    chat: i64,
    rows: Vec<OutboxRow>,
    busy: Arc<Mutex<HashSet<i64>>>,
    mut stop: watch::Receiver<bool>,
) {
    for row in rows {
        if *stop.borrow() {
            break;
        }
        // A leader cut off from its quorum sends nothing: the next leader sends the row.
        // Checked before the row is looked up: confirming the lease also waits until this
        // node has applied everything committed before it (`Lease::confirm`), so a new
        // leader sees the records its predecessor committed but had not yet applied here.
        if !ctx.lease.held().await {
            break;
        }
        // The rows were read before this worker was started; an earlier worker of this chat
        // (or the previous leader) may have performed and reported some of them in between
        // (a report commits before its worker frees the chat, so this read sees it).
        // Sending those again would be a duplicate reply.
        match ctx.read().tg_outbox_has(&row).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Telegram outbox; retrying later");
                break;
            }
        }
        drain_log(&ctx).await;
        match perform(&ctx, &row, &mut stop).await {
            Some(Step::Done(d, old_menu)) => {
                // The window in which a crash repeats this reply runs from here to the
                // commit: nothing else happens in it (see `report`).
                if !report(&ctx, d, Instant::now()).await {
                    break;
                }
                // One menu per chat: the previous main message goes, after the record (best
                // effort; after 48 h Telegram refuses, and the old menu's buttons still work).
                if let Some(old) = old_menu {
                    let _ = ctx.tg.delete(chat, old).await;
                }
            }
            Some(Step::Reported) => {}
            // Stopped while retrying: the row stays for the next session or leader.
            None => break,
        }
    }
    busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&chat);
}

/// Longest a send waits for the log to drain (`drain_log`).
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// Waits (up to [`DRAIN_WAIT`]) until this node has applied every entry its log holds now.
///
/// Why: a reply's record is proposed right after Telegram accepts the reply, and commits
/// only after every entry ahead of it in the log. Under a burst that queue is the batch of
/// updates being handled, and a crash in that time repeats the reply. Sending once the
/// queue ahead has drained puts the record right behind the send, which shortens the
/// window (`REPLY_RECORD_SECONDS`) at the cost of a reply leaving a little later.
async fn drain_log(ctx: &Ctx) {
    let Some(last) = ctx.cluster.metrics().last_log_index else {
        return;
    };
    let _ = ctx
        .cluster
        .raft()
        .wait(Some(DRAIN_WAIT))
        .applied_index_at_least(Some(last), "outbox send")
        .await;
}

/// Deletes the row from the outbox. False when this node cannot commit (not leader).
///
/// `sent_at`: when Telegram accepted the reply. The time from then to the commit is the
/// window in which a crash makes the next leader send the reply again; it is recorded as
/// [`REPLY_RECORD_SECONDS`].
async fn report(ctx: &Ctx, d: Delivered, sent_at: Instant) -> bool {
    let command = Command::TelegramDelivered { delivered: vec![d] };
    match ctx.propose(ctx.system(), command).await {
        Ok(_) => {
            metrics::histogram!(REPLY_RECORD_SECONDS).record(sent_at.elapsed().as_secs_f64());
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a sent Telegram reply; it stays queued");
            false
        }
    }
}

/// Histogram: from Telegram accepting a reply to the commit of its record.
pub const REPLY_RECORD_SECONDS: &str = "vpnkeeper_bot_reply_record_seconds";

enum Step {
    /// Performed; report it, then delete the chat's previous menu message if one is given.
    Done(Delivered, Option<i64>),
    /// Already reported before performing (at-most-once rows).
    Reported,
}

fn done(row: &OutboxRow) -> Option<Step> {
    Some(Step::Done(
        Delivered {
            outbox_id: row.id,
            main_message_id: None,
        },
        None,
    ))
}

/// Runs one Bot API call with retries: transient failures back off (1 s → 60 s), flood
/// control waits as told. `None` when stopped meanwhile or `max_attempts` ran out on
/// transient errors.
pub(crate) async fn call<T, F, Fut>(
    stop: &mut watch::Receiver<bool>,
    max_attempts: Option<u32>,
    mut f: F,
) -> Option<Result<T, TgError>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TgError>>,
{
    let mut backoff = Backoff::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match f().await {
            Ok(v) => return Some(Ok(v)),
            Err(TgError::RetryAfter(d)) => {
                tracing::info!(wait = ?d, "Telegram flood control; waiting as told");
                if !sleep_or_stop(d, stop).await {
                    return None;
                }
            }
            Err(e @ TgError::Transient(_)) => {
                if max_attempts.is_some_and(|m| attempts >= m) {
                    return Some(Err(e));
                }
                let d = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?d, "Telegram request failed; retrying");
                if !sleep_or_stop(d, stop).await {
                    return None;
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// Performs one outbox row: reads its payload and hands it to the function for its kind.
async fn perform(
    ctx: &Arc<Ctx>,
    row: &OutboxRow,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let out: Out = match serde_json::from_value(row.payload.clone()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(row = row.id, error = %e, "unreadable Telegram outbox row dropped");
            return done(row);
        }
    };
    let outcomes = Outcomes(&row.outcomes);
    match out {
        Out::Screen { lang, screen, edit } => {
            send_screen(ctx, row, lang, &screen, edit, stop).await
        }
        Out::Notice { lang, notice } => send_notice(ctx, row, lang, &notice, stop).await,
        Out::Answer {
            callback_id,
            lang,
            notice,
            alert,
        } => answer_press(ctx, row, &callback_id, lang, notice, alert, stop).await,
        Out::ConfigFile { lang, device } | Out::ConfigQr { lang, device } => {
            let Some(id) = outcomes.device(device) else {
                // Refused issue: the screen says why.
                return done(row);
            };
            let qr = matches!(out, Out::ConfigQr { .. });
            send_config(ctx, row, lang, id, qr, stop).await
        }
        Out::Reboot { lang, node_id } => reboot(ctx, row, lang, node_id, stop).await,
        Out::SpeedTest { lang, node_id } => speed_test(ctx, row, lang, node_id, stop).await,
        Out::Invite { lang, ttl_secs } => send_invite(ctx, row, lang, ttl_secs, stop).await,
        Out::Backup { slot_ms } => send_backup(ctx, row, slot_ms, stop).await,
        Out::NodeChart {
            lang,
            node_id,
            range,
            edit,
        } => send_chart(ctx, row, lang, node_id, range, edit, stop).await,
        Out::TicketAnswer { .. }
        | Out::TicketClosed { .. }
        | Out::Voice { .. }
        | Out::VoiceTranscript { .. } => perform_support(ctx, row, out, stop).await,
        Out::Invoice { .. }
        | Out::PreCheckout { .. }
        | Out::PaymentDone { .. }
        | Out::RefundDone { .. }
        | Out::Refund { .. } => perform_payment(ctx, row, out, stop).await,
    }
}

/// A screen rendered from the state as it is now (a generic error when it cannot be read).
async fn send_screen(
    ctx: &Ctx,
    row: &OutboxRow,
    lang: Lang,
    screen: &crate::outbox::Screen,
    edit: Option<i64>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let outcomes = Outcomes(&row.outcomes);
    let rendered = match render::screen(ctx, row.chat_id, lang, screen, outcomes).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot render a bot screen");
            (
                tr(lang, "error-generic", &[("reason", s(t(lang, "err-busy")))]),
                None,
            )
        }
    };
    show_screen(ctx, row, rendered, edit, stop).await
}

async fn send_notice(
    ctx: &Ctx,
    row: &OutboxRow,
    lang: Lang,
    notice: &crate::outbox::Notice,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let (text, keyboard) = render::notice(lang, notice, Outcomes(&row.outcomes));
    let chat = row.chat_id;
    if let Err(e) = call(stop, None, || {
        ctx.tg.send_text(chat, &text, true, keyboard.clone())
    })
    .await?
    {
        tracing::warn!(error = %e, "bot notice not sent");
    }
    done(row)
}

/// Answers a button press, with the notice as a toast when there is one.
async fn answer_press(
    ctx: &Ctx,
    row: &OutboxRow,
    callback_id: &str,
    lang: Lang,
    notice: Option<crate::outbox::Notice>,
    alert: bool,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let text = notice.map(|n| {
        let (text, _) = render::notice(lang, &n, Outcomes(&row.outcomes));
        // Toasts are plain text of at most 200 characters.
        strip_tags(&text).chars().take(200).collect::<String>()
    });
    let r = call(stop, Some(ANSWER_ATTEMPTS), || {
        ctx.tg.answer(callback_id, text.as_deref(), alert)
    })
    .await?;
    if let Err(e) = r {
        tracing::debug!(error = %e, "button press not answered");
    }
    done(row)
}

/// Support tickets: answers and closures to the user, voice notes and transcripts to admins.
async fn perform_support(
    ctx: &Ctx,
    row: &OutboxRow,
    out: Out,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let chat = row.chat_id;
    match out {
        Out::Voice {
            lang,
            post,
            file_id,
        } => {
            let outcomes = Outcomes(&row.outcomes);
            let Some(caption) = crate::screens::support::voice_caption(lang, outcomes, post) else {
                // The post was refused: the user was told, there is no ticket to show.
                return done(row);
            };
            let r = call(stop, None, || ctx.tg.send_voice(chat, &file_id, &caption)).await?;
            if let Err(e) = r {
                tracing::warn!(error = %e, "voice note not re-sent to an admin");
            }
            done(row)
        }
        Out::VoiceTranscript { message_id } => {
            let read = crate::screens::support::transcript_for(ctx, chat, message_id).await;
            send_stored_text(ctx, row, read, "voice transcript", stop).await
        }
        // TicketAnswer and TicketClosed: the user's side of the ticket.
        _ => {
            let Some(text) = crate::screens::support::user_text(ctx, chat, &out).await else {
                return done(row);
            };
            if let Err(e) = call(stop, None, || ctx.tg.send_text(chat, &text, true, None)).await? {
                tracing::warn!(error = %e, "support answer not sent");
            }
            done(row)
        }
    }
}

/// Telegram Stars: invoices, pre-checkout answers, payment confirmations and refunds.
async fn perform_payment(
    ctx: &Arc<Ctx>,
    row: &OutboxRow,
    out: Out,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    match out {
        Out::Invoice {
            lang,
            order_id,
            order,
        } => send_invoice(ctx, row, lang, &order_id, order, stop).await,
        Out::PreCheckout {
            lang,
            query_id,
            check,
        } => {
            let outcomes = Outcomes(&row.outcomes);
            let error = crate::screens::buy::pre_checkout_error(lang, check, outcomes);
            // Telegram waits 10 s for the answer: a few quick attempts, no long backoff.
            let r = call(stop, Some(ANSWER_ATTEMPTS), || {
                ctx.tg.answer_pre_checkout(&query_id, error.as_deref())
            })
            .await?;
            if let Err(e) = r {
                tracing::warn!(error = %e, "pre-checkout query not answered");
            }
            done(row)
        }
        Out::Refund { payment_id } => refund(ctx, row, payment_id, stop).await,
        // PaymentDone and RefundDone: the payer's confirmation.
        _ => {
            let (payment_id, refunded) = match out {
                Out::RefundDone { payment_id } => (payment_id, true),
                Out::PaymentDone { payment_id } => (payment_id, false),
                _ => unreachable!("perform routes only payment rows here"),
            };
            send_payer_text(ctx, row, payment_id, refunded, stop).await
        }
    }
}

async fn send_payer_text(
    ctx: &Ctx,
    row: &OutboxRow,
    payment_id: i64,
    refunded: bool,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let read = crate::screens::buy::payer_text(ctx, row.chat_id, payment_id, refunded).await;
    send_stored_text(ctx, row, read, "payment confirmation", stop).await
}

/// Sends a text the store writes and the bot renders when performing the row (a voice
/// transcript, a payer's confirmation): `Ok(None)` means its subject is gone, so the row is
/// done; a read error leaves the row for the next round.
async fn send_stored_text(
    ctx: &Ctx,
    row: &OutboxRow,
    read: Result<Option<render::Rendered>, vpnkeeper_store::ReadError>,
    what: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let (text, keyboard) = match read {
        Ok(Some(r)) => r,
        Ok(None) => return done(row),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the {what}; retrying later");
            return None;
        }
    };
    let chat = row.chat_id;
    let r = call(stop, None, || {
        ctx.tg.send_text(chat, &text, true, keyboard.clone())
    })
    .await?;
    if let Err(e) = r {
        tracing::warn!(error = %e, "{what} not sent");
    }
    done(row)
}

/// The invoice of an order created by the same update (nothing when it was refused but
/// the reason).
async fn send_invoice(
    ctx: &Ctx,
    row: &OutboxRow,
    lang: Lang,
    order_id: &str,
    order: crate::outbox::CommandRef,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    use crate::screens::buy;
    let chat = row.chat_id;
    if let Some(text) = buy::order_refused(lang, Outcomes(&row.outcomes), order) {
        let _ = call(stop, None, || ctx.tg.send_text(chat, &text, true, None)).await?;
        return done(row);
    }
    let invoice = match buy::invoice(ctx, lang, order_id).await {
        Ok(Some(i)) => i,
        Ok(None) => return done(row),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read an order; retrying later");
            return None;
        }
    };
    let (title, description, payload, amount) = invoice;
    let r = call(stop, None, || {
        ctx.tg
            .send_invoice(chat, &title, &description, &payload, &title, amount)
    })
    .await?;
    if let Err(e) = r {
        tracing::warn!(error = %e, "invoice not sent");
    }
    done(row)
}

/// A refund through Telegram: its answer is recorded (`RefundResult`) before the row is
/// reported done, so a crash in between repeats the call (Telegram then answers
/// CHARGE_ALREADY_REFUNDED, read as the yes it was), never loses the answer.
async fn refund(
    ctx: &Arc<Ctx>,
    row: &OutboxRow,
    payment_id: i64,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    use crate::screens::payments::{call_refund, RefundCall};
    match call_refund(ctx, row, payment_id, stop).await {
        RefundCall::Stopped => None,
        RefundCall::Nothing => done(row),
        RefundCall::Answered { ok, error } => {
            let command = Command::RefundResult {
                payment_id,
                ok,
                error,
            };
            match ctx.propose(ctx.system(), command).await {
                Ok(_) => done(row),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a refund's answer; retrying later");
                    None
                }
            }
        }
    }
}

/// Edits the pressed message into the screen, or sends it as the chat's new main message.
async fn show_screen(
    ctx: &Ctx,
    row: &OutboxRow,
    (text, keyboard): render::Rendered,
    edit: Option<i64>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let tg = &ctx.tg;
    let chat = row.chat_id;
    if let Some(message) = edit {
        let r = call(stop, None, || {
            tg.edit_text(chat, message, &text, keyboard.clone())
        })
        .await?;
        match r {
            Ok(()) | Err(TgError::Permanent(PermanentKind::NotModified, _)) => return done(row),
            // Too old or gone: show it as a new main message instead.
            Err(TgError::Permanent(PermanentKind::CannotEdit, _)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "bot screen not shown");
                return done(row);
            }
        }
    }
    // The chat's current main message, read before sending: it is deleted only after this
    // reply is recorded, so the deletion is not inside the send→record window.
    let old_menu = ctx
        .read()
        .tg_chat(chat)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.main_message_id);
    let r = call(stop, None, || {
        tg.send_text(chat, &text, true, keyboard.clone())
    })
    .await?;
    match r {
        Ok(id) => Some(Step::Done(
            Delivered {
                outbox_id: row.id,
                main_message_id: Some(id),
            },
            old_menu.filter(|old| *old != id),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "bot screen not sent");
            done(row)
        }
    }
}

/// A device's config as a document (or VLESS link), or as a QR code (`qr`).
async fn send_config(
    ctx: &Ctx,
    row: &OutboxRow,
    lang: Lang,
    id: i64,
    qr: bool,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let tg = &ctx.tg;
    let chat = row.chat_id;
    let Some(content) = config_content(ctx, chat, lang, id).await else {
        // A device gone since, or not the chat's.
        return done(row);
    };
    let r = if qr {
        let png = match vpnkeeper_render::qr_png(&content.text) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "no QR code for this config");
                return done(row);
            }
        };
        let caption = tr(lang, "qr-caption", &[("device", s(content.label.clone()))]);
        call(stop, None, || tg.send_photo(chat, png.clone(), &caption)).await?
    } else if content.is_link {
        let text = format!(
            "{}\n<code>{}</code>",
            tr(lang, "vless-link", &[("device", s(content.label.clone()))]),
            html(&content.text)
        );
        call(stop, None, || tg.send_text(chat, &text, true, None)).await?
    } else {
        let caption = tr(
            lang,
            "config-caption",
            &[
                ("device", s(content.label.clone())),
                ("protocol", s(content.protocol.clone())),
            ],
        );
        let bytes = content.text.clone().into_bytes();
        call(stop, None, || {
            tg.send_document(chat, &content.file_name, bytes.clone(), &caption)
        })
        .await?
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "config not sent");
    }
    done(row)
}

/// Reboots a node, at most once, and tells the admin how it went; then, in the background,
/// when it is back online.
async fn reboot(
    ctx: &Arc<Ctx>,
    row: &OutboxRow,
    lang: Lang,
    node_id: u64,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    if row.outcomes.iter().any(|o| o.is_err()) {
        return done(row);
    }
    // At most once: recorded as done before the node goes down (it may be this one).
    if !report_first(ctx, row).await {
        return None;
    }
    let node = ctx.read().node(node_id).await.ok().flatten();
    let failed = |name: String, reason: &str| {
        tr(
            lang,
            "reboot-failed",
            &[("name", s(name)), ("reason", s(html(reason)))],
        )
    };
    let (text, back_watch) = match node {
        None => (failed(node_id.to_string(), "not found"), None),
        Some(n) => match ctx.node_ops.reboot(&n).await {
            Ok(before) => (
                tr(lang, "reboot-done", &[("name", s(html(&n.name)))]),
                before.map(|b| (n, b)),
            ),
            Err(reason) => (failed(html(&n.name), reason.as_str()), None),
        },
    };
    // The outcome message is best effort: the row is already done.
    let chat = row.chat_id;
    let _ = call(stop, Some(5), || ctx.tg.send_text(chat, &text, true, None)).await;
    if let Some((node, before)) = back_watch {
        tokio::spawn(tell_when_back(
            ctx.clone(),
            chat,
            lang,
            node,
            before,
            stop.clone(),
        ));
    }
    Some(Step::Reported)
}

/// Records an at-most-once row as done before it is performed. False when this node cannot
/// commit (the row stays for the next leader).
async fn report_first(ctx: &Ctx, row: &OutboxRow) -> bool {
    let d = Delivered {
        outbox_id: row.id,
        main_message_id: None,
    };
    report(ctx, d, Instant::now()).await
}

/// Waits until a rebooted node answers with a new boot and tells the admin. Lost when this
/// node stops leading meanwhile (or is the node that rebooted).
async fn tell_when_back(
    ctx: Arc<Ctx>,
    chat: i64,
    lang: Lang,
    node: vpnkeeper_domain::Node,
    before: vpnkeeper_cluster::node_ops::BootMark,
    mut stop: watch::Receiver<bool>,
) {
    let back = tokio::select! {
        back = ctx.node_ops.back_online(&node, &before) => back,
        _ = stop.wait_for(|s| *s) => return,
    };
    let key = if back {
        "reboot-back"
    } else {
        "reboot-not-back"
    };
    let text = tr(lang, key, &[("name", s(html(&node.name)))]);
    if ctx.lease.held().await {
        let _ = call(&mut stop, Some(5), || {
            ctx.tg.send_text(chat, &text, true, None)
        })
        .await;
    }
}

/// Runs a speed test (at most once per row) in the background and sends the result: it
/// takes over ten seconds, and the admin's other replies must not wait for it.
async fn speed_test(
    ctx: &Arc<Ctx>,
    row: &OutboxRow,
    lang: Lang,
    node_id: u64,
    stop: &watch::Receiver<bool>,
) -> Option<Step> {
    if !report_first(ctx, row).await {
        return None;
    }
    let ctx = ctx.clone();
    let chat = row.chat_id;
    let mut stop = stop.clone();
    tokio::spawn(async move {
        let node = ctx.read().node(node_id).await.ok().flatten();
        let text = match node {
            None => tr(
                lang,
                "speedtest-failed",
                &[("name", s(node_id.to_string())), ("reason", s("not found"))],
            ),
            Some(n) => speed_text(&ctx, lang, &n).await,
        };
        if ctx.lease.held().await {
            let _ = call(&mut stop, Some(5), || {
                ctx.tg.send_text(chat, &text, true, None)
            })
            .await;
        }
    });
    Some(Step::Reported)
}

async fn speed_text(ctx: &Ctx, lang: Lang, n: &vpnkeeper_domain::Node) -> String {
    use crate::node_ops::SpeedTestError;
    let name = || s(html(&n.name));
    match ctx.node_ops.speed_test(n).await {
        Ok(r) => format!(
            "{}\n{}",
            tr(lang, "speedtest-result", &[("name", name())]),
            crate::screens::nodes::speed_line(lang, &r)
        ),
        Err(SpeedTestError::Running) => tr(lang, "speedtest-running", &[("name", name())]),
        Err(SpeedTestError::Failed(reason)) => tr(
            lang,
            "speedtest-failed",
            &[("name", name()), ("reason", s(html(&reason)))],
        ),
    }
}

/// Creates the invite (`Cluster::create_invite`, as `POST /api/v1/invites` does) and sends
/// the admin its link.
///
/// At least once, like other replies: a crash after the invite was created but before the
/// row's record makes the next leader create and send another one. The unused link only
/// works once and expires with its TTL.
async fn send_invite(
    ctx: &Ctx,
    row: &OutboxRow,
    lang: Lang,
    ttl_secs: u64,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    let chat = row.chat_id;
    let admin = Actor::Telegram { telegram_id: chat };
    let created = ctx
        .cluster
        .create_invite(admin, Duration::from_secs(ttl_secs))
        .await;
    let text = match created {
        Ok(invite) => invite::link_text(lang, &invite.link, ttl_secs),
        // Leadership is moving: the row stays for this node's next try or the next leader.
        Err(InviteError::NoLeader | InviteError::Submit(SubmitError::Propose(_))) => {
            tracing::warn!("cannot create an invite now; retrying later");
            return None;
        }
        Err(e) => invite::failed_text(lang, &e.to_string()),
    };
    if let Err(e) = call(stop, None, || ctx.tg.send_text(chat, &text, true, None)).await? {
        tracing::warn!(error = %e, "invite link not sent");
    }
    done(row)
}

struct ConfigContent {
    text: String,
    file_name: String,
    label: String,
    protocol: String,
    is_link: bool,
}

/// The config (or VLESS link) of active device `id` of the chat's user, rendered exactly as
/// the API renders it (`GET /api/v1/devices/{id}/config`), labelled in the row's language.
async fn config_content(ctx: &Ctx, chat: i64, lang: Lang, id: i64) -> Option<ConfigContent> {
    let read = ctx.read();
    let device: Device = read.device(&DeviceRef::Id(id)).await.ok().flatten()?;
    let user = read.user(&UserRef::TelegramId(chat)).await.ok().flatten()?;
    // Only the owner gets a config, and only of a device still active.
    if device.user_id != user.id || !device.is_active() {
        return None;
    }
    let node = read.node(device.node_id).await.ok().flatten()?;
    let label = device_label(lang, device.device_type);
    let protocol = protocol_label(lang, device.protocol);
    // The one renderer the API's /config uses too: same text, same file name.
    let artifact = match ClientArtifact::render(
        &ctx.sealer,
        &node,
        &device,
        &user,
        &ctx.settings.client_options,
    ) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(device = device.id, error = %e, "cannot render a device config");
            return None;
        }
    };
    Some(ConfigContent {
        is_link: matches!(artifact.payload, Payload::Vless(_)),
        text: artifact.text,
        file_name: artifact.file_name,
        label,
        protocol,
    })
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// A node's chart photo (issue #14): edited into the chart whose range button was pressed,
/// else sent; an offline node's last-seen text instead. At least once, like other replies
/// (a repeated edit changes nothing; a repeated send is one more chart).
async fn send_chart(
    ctx: &Ctx,
    row: &OutboxRow,
    lang: Lang,
    node_id: u64,
    range: vpnkeeper_domain::telemetry::Range,
    edit: Option<i64>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    use crate::screens::node_card::{chart_reply, ChartReply};
    let chat = row.chat_id;
    let tg = &ctx.tg;
    let Some(reply) = chart_reply(ctx, lang, node_id, range).await else {
        return done(row);
    };
    let r = match reply {
        ChartReply::Text(text) => call(stop, None, || tg.send_text(chat, &text, true, None))
            .await?
            .map(|_| ()),
        ChartReply::Photo {
            png,
            caption,
            keyboard,
        } => {
            let edited = match edit {
                Some(message) => Some(
                    call(stop, None, || {
                        tg.edit_chart(chat, message, png.clone(), &caption, keyboard.clone())
                    })
                    .await?,
                ),
                None => None,
            };
            match edited {
                Some(Ok(())) | Some(Err(TgError::Permanent(PermanentKind::NotModified, _))) => {
                    Ok(())
                }
                // No message to edit, or it is gone or too old: a new photo.
                None | Some(Err(TgError::Permanent(PermanentKind::CannotEdit, _))) => {
                    call(stop, None, || {
                        tg.send_chart(chat, png.clone(), &caption, keyboard.clone())
                    })
                    .await?
                    .map(|_| ())
                }
                Some(Err(e)) => Err(e),
            }
        }
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "node chart not sent");
    }
    done(row)
}

/// Attempts at sending a backup document on transient errors before the admin is alerted.
const BACKUP_ATTEMPTS: u32 = 5;

/// A scheduled backup to an admin: the document, or an alert saying why not (logged too).
/// At least once, like other replies; the file is made here, so a repeat after a failover
/// carries a backup as of then.
async fn send_backup(
    ctx: &Ctx,
    row: &OutboxRow,
    slot_ms: i64,
    stop: &mut watch::Receiver<bool>,
) -> Option<Step> {
    use crate::backup_doc::{alert, prepare, Prepared};
    let chat = row.chat_id;
    let lang = crate::snapshot::stored_lang(ctx.read(), chat)
        .await
        .ok()
        .flatten()
        .unwrap_or(Lang::En);
    let failure = match prepare(ctx.backups.as_ref(), lang, slot_ms).await {
        Prepared::Document {
            file_name,
            bytes,
            caption,
        } => {
            let r = call(stop, Some(BACKUP_ATTEMPTS), || {
                ctx.tg
                    .send_document(chat, &file_name, bytes.to_vec(), &caption)
            })
            .await?;
            match r {
                Ok(_) => {
                    tracing::info!(
                        chat,
                        slot_ms,
                        size = bytes.len(),
                        "scheduled backup sent to an admin"
                    );
                    return done(row);
                }
                Err(e) => alert(lang, &format!("Telegram did not take the file: {e}")),
            }
        }
        Prepared::Alert(text) => text,
    };
    tracing::error!(chat, slot_ms, reason = %failure, "scheduled backup NOT delivered to an admin; alerting them");
    if let Err(e) = call(stop, None, || ctx.tg.send_text(chat, &failure, false, None)).await? {
        tracing::error!(chat, error = %e, "the backup failure alert was not sent either");
    }
    done(row)
}
