//! Support tickets in the bot: a user's text outside any flow goes to the admins; an admin
//! answers with the Reply button (the next text is the answer) or closes the ticket. A voice
//! note goes to the admins at once (context + the voice by file id) and enters the durable
//! transcription queue; its transcript comes later from the leader's worker
//! (`crates/vpnkeeper/src/voice_service.rs`) as an `Out::VoiceTranscript` row.
//!
//! Ticket texts are personal: they travel only in commands and outbox rows, never in logs.

use vpnkeeper_domain::command::voice::{self, VoiceFailure, VoiceResult};
use vpnkeeper_domain::ticket::MAX_TICKET_TEXT_CHARS;
use vpnkeeper_domain::Command;

use super::{back_menu, btn, kb, protocol_label, Rendered};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Out, Outcomes, Screen, TicketDevice};
use crate::snapshot::Snapshot;
use crate::texts::{html, s, t, tr, Lang};

/// The pending input of an admin who pressed Reply on a ticket.
const AWAIT_REPLY: &str = "await_ticket_reply";

// ---- decide ----

/// "✉️ Support" in the menu: how to write to support.
pub(crate) fn open(turn: &mut Turn<'_>) {
    turn.clear_pending();
    turn.ok(Screen::Support);
}

/// A user's text outside any flow: into their ticket, and to every admin.
pub(crate) fn post(turn: &mut Turn<'_>, text: &str) {
    if text.trim().is_empty() || text.chars().count() > MAX_TICKET_TEXT_CHARS {
        turn.notice(Notice::TicketTooLong);
        return;
    }
    let telegram_id = turn.tg();
    let post = turn.plan.command(Command::TicketPost {
        telegram_id,
        text: text.to_string(),
    });
    turn.notice(Notice::TicketReceived { post });
    let from = display(turn);
    let devices = sender_devices(turn.snap);
    for admin in turn.snap.policy.admin_ids.clone() {
        let lang = turn.snap.lang_of(admin);
        let notice = Notice::TicketAdmin {
            post,
            from: from.clone(),
            telegram_id,
            text: text.to_string(),
            devices: devices.clone(),
        };
        turn.plan.out(admin, Out::Notice { lang, notice });
    }
}

/// A user's voice note outside any flow: into their ticket as pending transcription; every
/// admin gets the context and the voice itself at once, the transcript when the leader's
/// worker has it (`VoiceTranscribed` queues it). An admin's voice note gets the hint.
pub(crate) fn post_voice(turn: &mut Turn<'_>, file_id: &str, seconds: u32) {
    if turn.is_admin() {
        turn.notice(Notice::UseButtons);
        return;
    }
    if voice::validate_file_id(file_id).is_err() {
        turn.notice(Notice::FilesNotSupported);
        return;
    }
    let telegram_id = turn.tg();
    let admins = turn.snap.policy.admin_ids.clone();
    // A hint for Whisper; a tag of another shape is dropped (it would void the update).
    let language = turn
        .inc
        .from
        .language_code
        .clone()
        .filter(|l| voice::validate_voice(telegram_id, file_id, 0, Some(l), &[]).is_ok());
    let post = turn.plan.command(Command::TicketVoice {
        telegram_id,
        file_id: file_id.to_string(),
        duration_secs: seconds.min(voice::MAX_VOICE_SECONDS),
        language,
        notify: admins.clone(),
    });
    turn.notice(Notice::TicketReceived { post });
    let from = display(turn);
    let devices = sender_devices(turn.snap);
    for admin in admins {
        let lang = turn.snap.lang_of(admin);
        let notice = Notice::TicketAdminVoice {
            post,
            from: from.clone(),
            telegram_id,
            seconds,
            devices: devices.clone(),
        };
        turn.plan.out(admin, Out::Notice { lang, notice });
        let file_id = file_id.to_string();
        turn.plan.out(
            admin,
            Out::Voice {
                lang,
                post,
                file_id,
            },
        );
    }
}

/// An admin pressed Reply: the next text they type is the answer.
pub(crate) fn ask_reply(turn: &mut Turn<'_>, ticket_id: i64) {
    turn.set_pending(serde_json::json!({ "kind": AWAIT_REPLY, "ticket": ticket_id }));
    turn.answer(None, false);
    turn.notice(Notice::TicketReplyAsk { ticket_id });
}

/// The ticket an admin is answering, if their chat waits for an answer.
pub(crate) fn awaited_ticket(turn: &Turn<'_>) -> Option<i64> {
    if !turn.is_admin() || turn.pending_kind() != Some(AWAIT_REPLY) {
        return None;
    }
    turn.snap.pending()?.get("ticket")?.as_i64()
}

/// The admin's answer: applied as a `TicketReply`, whose apply queues it to the user.
pub(crate) fn reply(turn: &mut Turn<'_>, ticket_id: i64, text: &str) {
    if text.trim().is_empty() || text.chars().count() > MAX_TICKET_TEXT_CHARS {
        turn.notice(Notice::TicketTooLong);
        return;
    }
    let outcome = turn.plan.command(Command::TicketReply {
        ticket_id,
        text: text.to_string(),
    });
    turn.clear_pending();
    turn.notice(Notice::TicketReplied { outcome });
}

/// An admin pressed Close: apply closes it and tells the user once.
pub(crate) fn close(turn: &mut Turn<'_>, ticket_id: i64) {
    turn.plan.command(Command::CloseTicket { ticket_id });
    turn.answer(Some(Notice::TicketClosedAdmin { ticket_id }), false);
}

/// The sender's active devices with their node's name, for the admins' context.
fn sender_devices(snap: &Snapshot) -> Vec<TicketDevice> {
    snap.own_devices
        .iter()
        .filter(|d| d.is_active())
        .map(|d| TicketDevice {
            name: d.name.clone(),
            node: snap
                .nodes
                .iter()
                .find(|n| n.id == d.node_id)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| format!("#{}", d.node_id)),
            protocol: d.protocol,
            last_handshake_ms: d.last_handshake_ms,
        })
        .collect()
}

/// "Ann Lee @ann", as the admins see the sender.
fn display(turn: &Turn<'_>) -> String {
    let from = turn.inc.from;
    let mut d: String = from.first_name.chars().take(64).collect();
    if let Some(last) = &from.last_name {
        d.push(' ');
        d.extend(last.chars().take(64));
    }
    if let Some(u) = &from.username {
        d.push_str(" @");
        d.push_str(u);
    }
    d
}

// ---- render ----

pub(super) fn support_screen(lang: Lang) -> Rendered {
    (t(lang, "support"), kb(vec![back_menu(lang)]))
}

/// The ticket a post went to, from its outcome.
pub(crate) fn ticket_of(outcomes: Outcomes<'_>, post: crate::outbox::CommandRef) -> Option<i64> {
    match outcomes.of(post) {
        Some(Ok(vpnkeeper_domain::Applied::Ticket { ticket_id, .. })) => Some(*ticket_id),
        _ => None,
    }
}

/// What the user's post tells the user and the admins.
pub(crate) fn received(
    lang: Lang,
    outcomes: Outcomes<'_>,
    post: crate::outbox::CommandRef,
) -> Rendered {
    match ticket_of(outcomes, post) {
        Some(id) => (
            tr(lang, "ticket-received", &[("id", s(id.to_string()))]),
            None,
        ),
        None => (t(lang, "ticket-failed"), None),
    }
}

/// A user's support message as an admin sees it.
pub(crate) struct AdminCopy<'a> {
    pub from: &'a str,
    pub telegram_id: i64,
    pub text: &'a str,
    pub devices: &'a [TicketDevice],
}

/// An admin's copy of a user's message, with the sender's devices and Reply and Close.
pub(crate) fn admin_copy(
    lang: Lang,
    outcomes: Outcomes<'_>,
    post: crate::outbox::CommandRef,
    copy: AdminCopy<'_>,
) -> Option<Rendered> {
    let AdminCopy {
        from,
        telegram_id,
        text,
        devices,
    } = copy;
    let id = ticket_of(outcomes, post)?;
    let head = tr(
        lang,
        "ticket-admin",
        &[
            ("id", s(id.to_string())),
            ("who", s(html(from))),
            ("tg", s(telegram_id.to_string())),
        ],
    );
    Some((
        format!(
            "{head}\n\n{}\n\n{}",
            html(text),
            devices_text(lang, devices)
        ),
        kb(vec![vec![
            btn(t(lang, "btn-ticket-reply"), Cb::TicketReply(id)),
            btn(t(lang, "btn-ticket-close"), Cb::TicketClose(id)),
        ]]),
    ))
}

/// The text an admin's copy of a voice note shows in place of the message.
pub(crate) fn voice_pending(lang: Lang, seconds: u32) -> String {
    tr(
        lang,
        "voice-pending",
        &[("seconds", s(seconds.to_string()))],
    )
}

/// The caption of a voice note re-sent to an admin; `None` when the post was refused.
pub(crate) fn voice_caption(
    lang: Lang,
    outcomes: Outcomes<'_>,
    post: crate::outbox::CommandRef,
) -> Option<String> {
    let id = ticket_of(outcomes, post)?;
    Some(tr(lang, "voice-caption", &[("id", s(id.to_string()))]))
}

/// Why a note has no transcript, in the admin's words.
fn failure_text(lang: Lang, reason: &VoiceFailure) -> String {
    let detail = |key: &str, d: &str| tr(lang, key, &[("detail", s(html(d)))]);
    match reason {
        VoiceFailure::TooLong { seconds, limit } => tr(
            lang,
            "voice-fail-too-long",
            &[
                ("seconds", s(seconds.to_string())),
                ("limit", s(limit.to_string())),
            ],
        ),
        VoiceFailure::Silent => t(lang, "voice-fail-silent"),
        VoiceFailure::NoSpeech => t(lang, "voice-fail-no-speech"),
        VoiceFailure::ModelMissing { detail: d } => detail("voice-fail-off", d),
        VoiceFailure::BadAudio { detail: d } => detail("voice-fail-bad-audio", d),
        VoiceFailure::Download { detail: d } => detail("voice-fail-download", d),
        VoiceFailure::Model { detail: d } => detail("voice-fail-model", d),
    }
}

/// The transcript of a voice note (or why there is none) for an admin, with Reply and Close.
pub(crate) fn transcript(lang: Lang, note: &voice::VoiceNote) -> Option<Rendered> {
    let result = note.result.as_ref()?;
    let head = tr(
        lang,
        "voice-transcript-head",
        &[
            ("id", s(note.ticket_id.to_string())),
            ("tg", s(note.telegram_id.to_string())),
            ("seconds", s(note.duration_secs.to_string())),
        ],
    );
    let body = match result {
        VoiceResult::Text { text, .. } => tr(lang, "voice-transcript", &[("text", s(html(text)))]),
        VoiceResult::Failed { reason } => tr(
            lang,
            "voice-not-transcribed",
            &[("reason", s(failure_text(lang, reason)))],
        ),
    };
    let id = note.ticket_id;
    Some((
        format!("{head}\n\n{body}"),
        kb(vec![vec![
            btn(t(lang, "btn-ticket-reply"), Cb::TicketReply(id)),
            btn(t(lang, "btn-ticket-close"), Cb::TicketClose(id)),
        ]]),
    ))
}

/// The admin's transcript row, rendered when sent: in the chat's stored language, from the
/// note as stored; `Ok(None)` when there is nothing to send.
pub(crate) async fn transcript_for(
    ctx: &crate::Ctx,
    chat: i64,
    message_id: i64,
) -> Result<Option<Rendered>, vpnkeeper_store::ReadError> {
    let read = ctx.read();
    let lang = crate::snapshot::stored_lang(read, chat)
        .await?
        .unwrap_or(Lang::En);
    let note = read.voice_note(message_id).await?;
    Ok(note.as_ref().and_then(|n| transcript(lang, n)))
}

/// "Devices:" and one line per device: node, protocol, last handshake.
fn devices_text(lang: Lang, devices: &[TicketDevice]) -> String {
    if devices.is_empty() {
        return t(lang, "ticket-no-devices");
    }
    let mut out = t(lang, "ticket-devices");
    for d in devices {
        let seen = match d.last_handshake_ms {
            Some(ms) => super::devices::date_time(ms),
            None => t(lang, "ticket-never"),
        };
        out.push('\n');
        out.push_str(&tr(
            lang,
            "ticket-device",
            &[
                ("name", s(html(&d.name))),
                ("node", s(html(&d.node))),
                ("protocol", s(protocol_label(lang, d.protocol))),
                ("seen", s(seen)),
            ],
        ));
    }
    out
}

// ---- rows written by apply ----

/// The text of an answer or a close notice for the user, in the chat's stored language;
/// `None` when the message is gone (nothing to send).
pub(crate) async fn user_text(ctx: &crate::Ctx, chat: i64, out: &Out) -> Option<String> {
    let read = ctx.read();
    let lang = crate::snapshot::stored_lang(read, chat)
        .await
        .ok()
        .flatten()
        .unwrap_or(Lang::En);
    match out {
        Out::TicketAnswer { message_id } => {
            let m = read.ticket_message(*message_id).await.ok().flatten()?;
            Some(tr(lang, "ticket-answer", &[("text", s(html(&m.text)))]))
        }
        Out::TicketClosed { ticket_id } => Some(tr(
            lang,
            "ticket-closed",
            &[("id", s(ticket_id.to_string()))],
        )),
        _ => None,
    }
}
