//! The Bot API client: teloxide's requests, with errors sorted into what the caller does
//! next (retry later, wait as told, give up) and scrubbed of the bot token.
//!
//! The token is part of every request URL (`/bot<TOKEN>/method`), and reqwest puts the URL in
//! its error messages; every error leaving this module has been through [`Tg::scrub`].

use std::time::Duration;

use teloxide::payloads::{
    AnswerCallbackQuerySetters, AnswerPreCheckoutQuerySetters, EditMessageMediaSetters,
    EditMessageTextSetters, GetUpdatesSetters, SendDocumentSetters, SendMessageSetters,
    SendPhotoSetters, SendVoiceSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, CallbackQueryId, ChatId, FileId, InlineKeyboardMarkup, InputFile, InputMedia,
    InputMediaPhoto, LabeledPrice, MessageId, ParseMode, PreCheckoutQueryId, TelegramTransactionId,
    Update, UserId,
};
use teloxide::{ApiError, Bot, RequestError};

use crate::Token;

/// What a failed request means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TgError {
    /// Network trouble or a server error: try again after a backoff.
    Transient(String),
    /// Flood control: Telegram says when to try again.
    RetryAfter(Duration),
    /// The request itself is wrong or pointless now (blocked by the user, message gone,
    /// query too old): retrying cannot help.
    Permanent(PermanentKind, String),
}

/// Permanent errors the bot treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentKind {
    /// Editing with the same content: the message already shows what we want.
    NotModified,
    /// The message to edit is gone or too old to edit: send a new one instead.
    CannotEdit,
    /// The user blocked the bot, or the chat does not exist.
    Unreachable,
    /// The token is wrong.
    Unauthorized,
    Other,
}

impl std::fmt::Display for TgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TgError::Transient(m) => write!(f, "temporary Bot API failure: {m}"),
            TgError::RetryAfter(d) => write!(f, "flood control: retry after {} s", d.as_secs()),
            TgError::Permanent(_, m) => write!(f, "Bot API refused the request: {m}"),
        }
    }
}

/// A Bot API client for one token and base URL.
#[derive(Clone)]
pub struct Tg {
    bot: Bot,
    token: Token,
    poll_timeout: Duration,
}

/// The bot's identity, from getMe.
#[derive(Debug, Clone)]
pub struct Me {
    pub username: String,
}

impl Tg {
    /// A client for `api_url` (Telegram's, or a test's fake). Long polls of `poll_timeout`
    /// need an HTTP timeout longer than that, which teloxide's default client does not have.
    pub fn new(token: &Token, api_url: reqwest::Url, poll_timeout: Duration) -> Result<Tg, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(poll_timeout + Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for the Bot API: {e}"))?;
        let bot = Bot::with_client(token.expose(), client).set_api_url(api_url);
        Ok(Tg {
            bot,
            token: token.clone(),
            poll_timeout,
        })
    }

    /// Replaces the token in `text` (reqwest errors quote the request URL).
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.token.expose())
    }

    fn classify(&self, e: RequestError) -> TgError {
        classify(e, self.token.expose())
    }

    pub async fn get_me(&self) -> Result<Me, TgError> {
        let me = self.bot.get_me().await.map_err(|e| self.classify(e))?;
        Ok(Me {
            username: me.user.username.clone().unwrap_or_default(),
        })
    }

    /// getUpdates only works when no webhook is set; drop one left by another tool.
    pub async fn delete_webhook(&self) -> Result<(), TgError> {
        self.bot
            .delete_webhook()
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e))
    }

    /// One long poll: updates from `offset` on, waiting up to `timeout` (whole seconds, at
    /// most the configured poll timeout; the leader lease may cut it shorter) for some.
    pub async fn get_updates(
        &self,
        offset: i64,
        limit: u8,
        timeout: Duration,
    ) -> Result<Vec<Update>, TgError> {
        // Bot API update ids fit in i32 (teloxide's type); clamp rather than wrap.
        let offset = offset.clamp(0, i32::MAX as i64) as i32;
        self.bot
            .get_updates()
            .offset(offset)
            .limit(limit)
            .timeout(timeout.min(self.poll_timeout).as_secs() as u32)
            .allowed_updates(vec![
                AllowedUpdate::Message,
                AllowedUpdate::CallbackQuery,
                AllowedUpdate::PreCheckoutQuery,
            ])
            .await
            .map_err(|e| self.classify(e))
    }

    /// An invoice in Telegram Stars: currency `XTR`, no provider token, one price line.
    pub async fn send_invoice(
        &self,
        chat: i64,
        title: &str,
        description: &str,
        payload: &str,
        label: &str,
        amount: i64,
    ) -> Result<i64, TgError> {
        let price = LabeledPrice::new(label, amount.clamp(1, u32::MAX as i64) as u32);
        self.bot
            .send_invoice(ChatId(chat), title, description, payload, "XTR", [price])
            .await
            .map(|m| i64::from(m.id.0))
            .map_err(|e| self.classify(e))
    }

    /// Answers a pre-checkout query: ok, or refused with `error` shown to the payer.
    pub async fn answer_pre_checkout(&self, id: &str, error: Option<&str>) -> Result<(), TgError> {
        let q = self
            .bot
            .answer_pre_checkout_query(PreCheckoutQueryId(id.to_string()), error.is_none());
        let q = match error {
            Some(e) => q.error_message(e),
            None => q,
        };
        q.await.map(|_| ()).map_err(|e| self.classify(e))
    }

    /// Refunds a Stars payment to the user who made it.
    pub async fn refund_star_payment(&self, user: i64, charge_id: &str) -> Result<(), TgError> {
        self.bot
            .refund_star_payment(
                UserId(user.max(0) as u64),
                TelegramTransactionId(charge_id.to_string()),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e))
    }

    pub async fn send_text(
        &self,
        chat: i64,
        text: &str,
        html: bool,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<i64, TgError> {
        let mut req = self.bot.send_message(ChatId(chat), text);
        if html {
            req = req.parse_mode(ParseMode::Html);
        }
        if let Some(k) = keyboard {
            req = req.reply_markup(k);
        }
        req.await
            .map(|m| m.id.0 as i64)
            .map_err(|e| self.classify(e))
    }

    pub async fn edit_text(
        &self,
        chat: i64,
        message: i64,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), TgError> {
        let mut req = self
            .bot
            .edit_message_text(ChatId(chat), MessageId(message as i32), text)
            .parse_mode(ParseMode::Html);
        if let Some(k) = keyboard {
            req = req.reply_markup(k);
        }
        req.await.map(|_| ()).map_err(|e| self.classify(e))
    }

    pub async fn delete(&self, chat: i64, message: i64) -> Result<(), TgError> {
        self.bot
            .delete_message(ChatId(chat), MessageId(message as i32))
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e))
    }

    pub async fn answer(&self, id: &str, text: Option<&str>, alert: bool) -> Result<(), TgError> {
        let mut req = self
            .bot
            .answer_callback_query(CallbackQueryId(id.to_string()));
        if let Some(t) = text {
            req = req.text(t).show_alert(alert);
        }
        req.await.map(|_| ()).map_err(|e| self.classify(e))
    }

    pub async fn send_document(
        &self,
        chat: i64,
        file_name: &str,
        bytes: Vec<u8>,
        caption: &str,
    ) -> Result<i64, TgError> {
        self.bot
            .send_document(
                ChatId(chat),
                InputFile::memory(bytes).file_name(file_name.to_string()),
            )
            .caption(caption)
            .await
            .map(|m| m.id.0 as i64)
            .map_err(|e| self.classify(e))
    }

    /// A chart photo with an HTML caption and buttons (issue #14).
    pub async fn send_chart(
        &self,
        chat: i64,
        png: Vec<u8>,
        caption: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<i64, TgError> {
        let mut req = self
            .bot
            .send_photo(ChatId(chat), InputFile::memory(png).file_name("chart.png"))
            .caption(caption)
            .parse_mode(ParseMode::Html);
        if let Some(k) = keyboard {
            req = req.reply_markup(k);
        }
        req.await
            .map(|m| m.id.0 as i64)
            .map_err(|e| self.classify(e))
    }

    /// Replaces the photo (and caption, buttons) of chart message `message`.
    pub async fn edit_chart(
        &self,
        chat: i64,
        message: i64,
        png: Vec<u8>,
        caption: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), TgError> {
        let photo = InputMediaPhoto::new(InputFile::memory(png).file_name("chart.png"))
            .caption(caption)
            .parse_mode(ParseMode::Html);
        let mut req = self.bot.edit_message_media(
            ChatId(chat),
            MessageId(message as i32),
            InputMedia::Photo(photo),
        );
        if let Some(k) = keyboard {
            req = req.reply_markup(k);
        }
        req.await.map(|_| ()).map_err(|e| self.classify(e))
    }

    pub async fn send_photo(&self, chat: i64, png: Vec<u8>, caption: &str) -> Result<i64, TgError> {
        self.bot
            .send_photo(ChatId(chat), InputFile::memory(png).file_name("qr.png"))
            .caption(caption)
            .await
            .map(|m| m.id.0 as i64)
            .map_err(|e| self.classify(e))
    }
}

/// Files: voice notes sent to support are re-sent to the admins by id and downloaded by the
/// leader's transcription worker.
impl Tg {
    /// Re-sends a file Telegram already has (a user's voice note) by its id: no upload.
    pub async fn send_voice(
        &self,
        chat: i64,
        file_id: &str,
        caption: &str,
    ) -> Result<i64, TgError> {
        self.bot
            .send_voice(
                ChatId(chat),
                InputFile::file_id(FileId(file_id.to_string())),
            )
            .caption(caption)
            .await
            .map(|m| m.id.0 as i64)
            .map_err(|e| self.classify(e))
    }

    /// getFile: where to download a file from (its `file_path`), and its size.
    pub async fn get_file(&self, file_id: &str) -> Result<(String, u32), TgError> {
        let file = self
            .bot
            .get_file(FileId(file_id.to_string()))
            .await
            .map_err(|e| self.classify(e))?;
        Ok((file.path, file.meta.size))
    }

    /// Downloads `<api_url>/file/bot<TOKEN>/<file_path>` (the Bot API's file URL), refusing
    /// more than `max_bytes`. Server trouble is transient; a 4xx (the file is gone) is not.
    pub async fn download(&self, file_path: &str, max_bytes: usize) -> Result<Vec<u8>, TgError> {
        let mut url = self.bot.api_url();
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments
                    .pop_if_empty()
                    .push("file")
                    .push(&format!("bot{}", self.token.expose()));
                for part in file_path.split('/').filter(|p| !p.is_empty()) {
                    segments.push(part);
                }
            }
            Err(()) => {
                let msg = "the Bot API URL cannot take a path".to_string();
                return Err(TgError::Permanent(PermanentKind::Other, msg));
            }
        }
        let transient = |e: reqwest::Error| TgError::Transient(self.scrub(&e.to_string()));
        let mut resp = self.bot.client().get(url).send().await.map_err(transient)?;
        let status = resp.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(TgError::Transient(format!(
                "file download answered {status}"
            )));
        }
        if !status.is_success() {
            let msg = format!("file download answered {status}");
            return Err(TgError::Permanent(PermanentKind::Other, msg));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transient)? {
            if body.len() + chunk.len() > max_bytes {
                let msg = format!("the file is larger than {max_bytes} bytes");
                return Err(TgError::Permanent(PermanentKind::Other, msg));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Replaces every occurrence of `token` (and of its secret half, in case a URL got split)
/// with a placeholder.
pub fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(token, "<token>");
    if let Some((_, secret)) = token.split_once(':') {
        if secret.len() >= 8 {
            out = out.replace(secret, "<token>");
        }
    }
    out
}

fn classify(e: RequestError, token: &str) -> TgError {
    let msg = scrub(&e.to_string(), token);
    match e {
        RequestError::RetryAfter(s) => TgError::RetryAfter(s.duration()),
        RequestError::Network(_) | RequestError::Io(_) => TgError::Transient(msg),
        // A proxy's HTML error page or a truncated body: the server side is unwell.
        RequestError::InvalidJson { .. } => TgError::Transient(msg),
        RequestError::MigrateToChatId(_) => TgError::Permanent(PermanentKind::Other, msg),
        RequestError::Api(api) => {
            let kind = match api {
                ApiError::MessageNotModified => PermanentKind::NotModified,
                ApiError::MessageToEditNotFound
                | ApiError::MessageCantBeEdited
                | ApiError::MessageIdInvalid => PermanentKind::CannotEdit,
                ApiError::BotBlocked
                | ApiError::ChatNotFound
                | ApiError::UserNotFound
                | ApiError::UserDeactivated
                | ApiError::BotKicked
                | ApiError::CantInitiateConversation
                | ApiError::CantTalkWithBots => PermanentKind::Unreachable,
                ApiError::InvalidToken => PermanentKind::Unauthorized,
                // Another poller holds the updates (an old leader's last request): wait.
                ApiError::TerminatedByOtherGetUpdates => return TgError::Transient(msg),
                ApiError::Unknown(ref text) if is_server_side(text) => {
                    return TgError::Transient(msg)
                }
                _ => PermanentKind::Other,
            };
            TgError::Permanent(kind, msg)
        }
    }
}

/// Telegram answers server trouble with `{"ok":false,"error_code":5xx,"description":…}`,
/// which teloxide reports as an unknown API error with only the description.
fn is_server_side(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "gateway timeout",
        "service unavailable",
        "too many requests",
        "timeout",
        "restart",
    ]
    .iter()
    .any(|p| d.contains(p))
        || d.starts_with('5')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_the_token_and_its_secret() {
        let token = "123456:AAH-secret_value";
        let text = "error sending request for url (http://127.0.0.1:9/bot123456:AAH-secret_value/GetUpdates)";
        let out = scrub(text, token);
        assert!(!out.contains("AAH-secret_value"), "{out}");
        assert!(out.contains("/bot<token>/GetUpdates"), "{out}");
        assert_eq!(scrub("…AAH-secret_value…", token), "…<token>…");
    }

    #[test]
    fn sorts_api_errors() {
        let t = "1:abcdefghij";
        let api = |e: ApiError| classify(RequestError::Api(e), t);
        assert!(matches!(
            api(ApiError::BotBlocked),
            TgError::Permanent(PermanentKind::Unreachable, _)
        ));
        assert!(matches!(
            api(ApiError::MessageNotModified),
            TgError::Permanent(PermanentKind::NotModified, _)
        ));
        assert!(matches!(
            api(ApiError::Unknown("Internal Server Error".into())),
            TgError::Transient(_)
        ));
        assert!(matches!(
            api(ApiError::Unknown("Bad Request: something".into())),
            TgError::Permanent(PermanentKind::Other, _)
        ));
        assert!(matches!(
            api(ApiError::TerminatedByOtherGetUpdates),
            TgError::Transient(_)
        ));
        assert_eq!(
            classify(
                RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(7)),
                t
            ),
            TgError::RetryAfter(Duration::from_secs(7))
        );
    }
}
