//! `/api/v1/tickets`: support tickets opened from the Telegram bot (issue #17). Reading needs
//! the admin scope too: ticket texts are personal. A reply or a close is the same command the
//! bot's buttons send; its apply queues the message to the user in the bot's outbox, so the
//! user gets it exactly once whoever answered.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_domain::ticket::{Ticket, TicketMessage, TicketStatus};
use vpnkeeper_domain::Command;
use vpnkeeper_store::Page;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{Body, Path, Query};
use crate::responses::{
    AdminReadErrors, BadPath, BadQuery, InvalidField, NoSuchTicket, NotJson, TicketClosed,
    WriteErrors,
};
use crate::state::ApiState;

#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub id: i64,
    /// The user's Telegram chat, where answers go.
    pub telegram_id: i64,
    pub user_id: i64,
    /// `open` or `closed`.
    pub status: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
}

impl From<Ticket> for TicketView {
    fn from(t: Ticket) -> TicketView {
        TicketView {
            id: t.id,
            telegram_id: t.telegram_id,
            user_id: t.user_id,
            status: t.status.as_str().into(),
            created_at_ms: t.created_at_ms,
            updated_at_ms: t.updated_at_ms,
            closed_at_ms: t.closed_at_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    /// `user` for the ticket's owner, else who answered (`tg:<id>`, `key:<id>`).
    pub author: String,
    pub text: String,
    pub at_ms: i64,
}

impl From<TicketMessage> for MessageView {
    fn from(m: TicketMessage) -> MessageView {
        MessageView {
            id: m.id,
            author: m.author,
            text: m.text,
            at_ms: m.at_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub tickets: Vec<TicketView>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketThread {
    pub ticket: TicketView,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `open` or `closed`; all when absent.
    pub status: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The answer, sent to the user by the bot (1–3500 characters).
    #[schema(min_length = 1, max_length = 3500)]
    pub text: String,
}

fn parse_status(s: Option<&str>) -> Result<Option<TicketStatus>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) => TicketStatus::parse(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("status", "must be `open` or `closed`")),
    }
}

async fn thread(state: &ApiState, id: i64) -> Result<TicketThread, ApiError> {
    let read = state.read();
    let ticket = read
        .ticket(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ticket {id}")))?;
    let messages = read.ticket_messages(id).await?;
    Ok(TicketThread {
        ticket: ticket.into(),
        messages: messages.into_iter().map(MessageView::from).collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Tickets, most recently active first", body = TicketList),
        AdminReadErrors, BadQuery))]
pub async fn list(
    State(state): State<ApiState>,
    _admin: Admin,
    Query(p): Query<ListParams>,
) -> Result<Json<TicketList>, ApiError> {
    let status = parse_status(p.status.as_deref())?;
    let page = Page {
        limit: p.limit.unwrap_or(100),
        offset: p.offset.unwrap_or(0),
    };
    let tickets = state.read().tickets(status, page).await?;
    Ok(Json(TicketList {
        tickets: tickets.into_iter().map(TicketView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = i64, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The ticket and its messages", body = TicketThread),
        AdminReadErrors, BadPath, NoSuchTicket))]
pub async fn get(
    State(state): State<ApiState>,
    _admin: Admin,
    Path(id): Path<i64>,
) -> Result<Json<TicketThread>, ApiError> {
    Ok(Json(thread(&state, id).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/reply", tag = "tickets", request_body = ReplyBody,
    params(("id" = i64, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The ticket with the answer; the bot sends it to the user", body = TicketThread),
        WriteErrors, InvalidField, NotJson, BadPath, NoSuchTicket, TicketClosed))]
pub async fn reply(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    Body(req): Body<ReplyBody>,
) -> Result<Json<TicketThread>, ApiError> {
    let command = Command::TicketReply {
        ticket_id: id,
        text: req.text,
    };
    state.execute(caller.actor(), command).await?;
    Ok(Json(thread(&state, id).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/close", tag = "tickets",
    params(("id" = i64, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The closed ticket; the bot tells the user once", body = TicketThread),
        WriteErrors, BadPath, NoSuchTicket))]
pub async fn close(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<Json<TicketThread>, ApiError> {
    state
        .execute(caller.actor(), Command::CloseTicket { ticket_id: id })
        .await?;
    Ok(Json(thread(&state, id).await?))
}
