//! An admin's broadcast: ask for the text, preview it, send or cancel.
//!
//! The text typed in between is kept as the chat's pending input (`await_broadcast`, then
//! `broadcast_draft` with the text), so the preview and the send see the same draft.

use vpnkeeper_domain::telegram::MAX_BROADCAST_CHARS;
use vpnkeeper_domain::{Command, CommandError};
use vpnkeeper_store::ReadError;

use super::{back_admin, btn, error_text, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Outcomes, Screen};
use crate::texts::{html, num, t, tr, Lang};
use crate::Ctx;

/// The preview of a broadcast stays under Telegram's 4096 characters with its header.
const PREVIEW_CHARS: usize = 3500;
const _: () = assert!(PREVIEW_CHARS < MAX_BROADCAST_CHARS);

// ---- decide ----

pub(crate) fn ask(turn: &mut Turn<'_>) {
    if turn.snap.broadcast_running {
        turn.answer(Some(Notice::BroadcastRunning), true);
        return;
    }
    turn.set_pending(serde_json::json!({ "kind": "await_broadcast" }));
    turn.ok(Screen::BroadcastAsk);
}

/// The text an admin typed after "Broadcast": kept as the draft and previewed.
pub(crate) fn draft(turn: &mut Turn<'_>, text: &str) {
    if text.chars().count() > MAX_BROADCAST_CHARS {
        turn.notice(Notice::BroadcastTooLong);
        return;
    }
    if text.trim().is_empty() {
        turn.notice(Notice::UseButtons);
        return;
    }
    turn.set_pending(serde_json::json!({
        "kind": "broadcast_draft",
        "text": text,
    }));
    turn.show(Screen::BroadcastPreview);
}

pub(crate) fn send(turn: &mut Turn<'_>) {
    let Some(text) = draft_text(turn.snap.pending()) else {
        turn.outdated();
        return;
    };
    let broadcast_id = turn.entropy.uuid().to_string();
    turn.plan.command(Command::StartBroadcast {
        broadcast_id,
        text,
        admin_chat: turn.chat(),
    });
    turn.clear_pending();
    turn.ok(Screen::BroadcastStarted);
}

pub(crate) fn cancel(turn: &mut Turn<'_>) {
    turn.clear_pending();
    turn.answer(Some(Notice::Cancelled), false);
    turn.show(Screen::Admin);
}

/// The draft in a chat's pending input.
fn draft_text(pending: Option<&serde_json::Value>) -> Option<String> {
    let p = pending?;
    if p.get("kind").and_then(|k| k.as_str()) != Some("broadcast_draft") {
        return None;
    }
    p.get("text").and_then(|t| t.as_str()).map(str::to_string)
}

// ---- load ----

pub(super) async fn load(
    ctx: &Ctx,
    chat: i64,
    screen: &Screen,
    view: &mut View,
) -> Result<(), ReadError> {
    if let Screen::BroadcastPreview = screen {
        let read = ctx.read();
        let pending = read.tg_chat(chat).await?.and_then(|c| c.pending);
        view.draft = draft_text(pending.as_ref());
        if view.draft.is_some() {
            view.recipients = read.tg_recipient_count().await?;
        }
    }
    Ok(())
}

// ---- render ----

pub(super) fn ask_screen(lang: Lang) -> Rendered {
    (
        t(lang, "broadcast-ask"),
        kb(vec![vec![btn(t(lang, "btn-cancel"), Cb::BroadcastCancel)]]),
    )
}

pub(super) fn preview_screen(lang: Lang, view: &View) -> Rendered {
    let Some(draft) = &view.draft else {
        return (t(lang, "outdated"), kb(vec![back_admin(lang)]));
    };
    let mut shown: String = draft.chars().take(PREVIEW_CHARS).collect();
    if draft.chars().count() > PREVIEW_CHARS {
        shown.push('…');
    }
    (
        format!(
            "{}\n\n{}",
            tr(
                lang,
                "broadcast-preview",
                &[("count", num(view.recipients))]
            ),
            html(&shown)
        ),
        kb(vec![vec![
            btn(t(lang, "btn-send"), Cb::BroadcastSend),
            btn(t(lang, "btn-cancel"), Cb::BroadcastCancel),
        ]]),
    )
}

/// After "Send": the outcome of the update's first command, a conflict meaning another
/// broadcast is running. The screen names no command (rows already in the log have no such
/// field); the first is the `StartBroadcast` unless the admin's own user row is created by
/// the same update.
pub(super) fn started_screen(lang: Lang, outcomes: Outcomes<'_>) -> Rendered {
    let text = match outcomes.first() {
        Some(Ok(_)) | None => t(lang, "broadcast-started"),
        Some(Err(CommandError::Conflict { .. })) => t(lang, "broadcast-running"),
        Some(Err(e)) => error_text(lang, e),
    };
    (text, kb(vec![back_admin(lang)]))
}
