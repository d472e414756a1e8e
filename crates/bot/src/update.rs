//! An update reduced to what the bot reacts to.

use teloxide::types::{Update, UpdateKind, User as TgUser};

/// One message or button press from a person in a private chat.
pub(crate) struct Incoming<'a> {
    pub from: &'a TgUser,
    /// The private chat with `from` (its id equals the user id).
    pub chat_id: i64,
    pub kind: Kind<'a>,
}

pub(crate) enum Kind<'a> {
    Text(&'a str),
    /// A voice note: Telegram's file id and its length in seconds.
    Voice {
        file_id: &'a str,
        seconds: u32,
    },
    /// Files, photos, stickers, locations…
    Other,
    Callback {
        id: &'a str,
        data: Option<&'a str>,
        message_id: Option<i64>,
    },
    /// Telegram asks whether to take a payment (answer within 10 s).
    PreCheckout {
        id: &'a str,
        currency: &'a str,
        total_amount: i64,
        payload: &'a str,
    },
    /// A payment went through (`message.successful_payment`).
    Paid {
        currency: &'a str,
        total_amount: i64,
        payload: &'a str,
        charge_id: &'a str,
    },
}

impl Incoming<'_> {
    /// The presser's Telegram id.
    pub fn telegram_id(&self) -> i64 {
        self.from.id.0 as i64
    }

    /// The parsed button data of a press (`None` for messages and for data we did not make).
    pub fn callback(&self) -> Option<crate::callback::Cb> {
        match self.kind {
            Kind::Callback { data, .. } => data.and_then(crate::callback::Cb::parse),
            _ => None,
        }
    }
}

/// The bot only talks in private chats with people. Group messages, channel posts, other
/// bots and update kinds it did not ask for are ignored.
pub(crate) fn incoming(update: &Update) -> Option<Incoming<'_>> {
    match &update.kind {
        UpdateKind::Message(m) => {
            if !m.chat.is_private() {
                return None;
            }
            let from = m.from.as_ref()?;
            if from.is_bot {
                return None;
            }
            if let Some(p) = m.successful_payment() {
                return Some(Incoming {
                    from,
                    chat_id: m.chat.id.0,
                    kind: Kind::Paid {
                        currency: &p.currency,
                        total_amount: i64::from(p.total_amount),
                        payload: &p.invoice_payload,
                        charge_id: &p.telegram_payment_charge_id.0,
                    },
                });
            }
            let kind = match (m.text(), m.voice()) {
                (Some(t), _) => Kind::Text(t),
                (None, Some(v)) => Kind::Voice {
                    file_id: &v.file.id.0,
                    seconds: v.duration.seconds(),
                },
                (None, None) => Kind::Other,
            };
            Some(Incoming {
                from,
                chat_id: m.chat.id.0,
                kind,
            })
        }
        UpdateKind::CallbackQuery(q) => {
            if q.from.is_bot {
                return None;
            }
            let message = q.message.as_ref();
            // A button on a message in a group is not ours to serve.
            if let Some(m) = message {
                if !m.chat().is_private() {
                    return None;
                }
            }
            Some(Incoming {
                from: &q.from,
                chat_id: q.from.id.0 as i64,
                kind: Kind::Callback {
                    id: &q.id.0,
                    data: q.data.as_deref(),
                    message_id: message.map(|m| m.id().0 as i64),
                },
            })
        }
        UpdateKind::PreCheckoutQuery(q) => Some(Incoming {
            from: &q.from,
            chat_id: q.from.id.0 as i64,
            kind: Kind::PreCheckout {
                id: &q.id.0,
                currency: &q.currency,
                total_amount: i64::from(q.total_amount),
                payload: &q.invoice_payload,
            },
        }),
        _ => None,
    }
}

/// Updates of one chat are handled in order; different chats in parallel.
pub(crate) fn chat_key(update: &Update) -> Option<i64> {
    incoming(update).map(|i| i.chat_id)
}
