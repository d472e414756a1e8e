//! `/invite [ttl]`: an admin asks for a join link for a new node.
//!
//! The link holds a one-time token, so deciding plans only an outbox row; the sender
//! creates the invite when it performs the row, through `Cluster::create_invite`, the code
//! path of `vpnkeeper invite create` and `POST /api/v1/invites`.

use vpnkeeper_cluster::invite_ttl::{format_ttl, parse_ttl, DEFAULT_INVITE_TTL};

use crate::decide::Turn;
use crate::outbox::{Notice, Out};
use crate::texts::{html, s, tr, Lang};

// ---- decide ----

/// `/invite` with its first argument, if any.
pub(crate) fn command(turn: &mut Turn<'_>, ttl: Option<&str>) {
    if !turn.is_admin() {
        turn.notice(Notice::AdminsOnly);
        return;
    }
    let ttl = match ttl.map(parse_ttl) {
        None => DEFAULT_INVITE_TTL,
        Some(Ok(ttl)) => ttl,
        Some(Err(reason)) => {
            turn.notice(Notice::InviteBadTtl { reason });
            return;
        }
    };
    let lang = turn.lang;
    turn.out(Out::Invite {
        lang,
        ttl_secs: ttl.as_secs(),
    });
}

// ---- render ----

pub(crate) fn link_text(lang: Lang, link: &str, ttl_secs: u64) -> String {
    let ttl = format_ttl(std::time::Duration::from_secs(ttl_secs));
    tr(
        lang,
        "invite-link",
        &[("link", s(html(link))), ("ttl", s(ttl))],
    )
}

pub(crate) fn failed_text(lang: Lang, reason: &str) -> String {
    tr(lang, "invite-failed", &[("reason", s(html(reason)))])
}
