//! Payments (issue #16): orders (invoices), credits of paid orders, refunds.
//!
//! A purchase is three log entries, each inside the Telegram update that caused it:
//! `CreateOrder` (the user chose a plan; apply fixes the price, less a pending promo
//! discount), `CheckOrder` (Telegram's pre-checkout query; apply refuses an unknown or paid
//! order, an archived plan or a different amount, and the refusal is the answer) and
//! `CreditPayment` (the successful payment; apply records it keyed by the provider's payment
//! id and extends the user's plan, once). Refunds are `RequestRefund` (an admin) and
//! `RefundResult` (the provider's answer, proposed by the bot's outbox sender): the days are
//! taken back only by a successful `RefundResult`.
//!
//! [`PaymentProvider`] is the seam for providers other than Telegram Stars: see
//! ARCHITECTURE.md, "Payments".

use serde::{Deserialize, Serialize};

use crate::validate::ValidationError;

/// The provider id of Telegram Stars, stored in `payments.provider`.
pub const STARS: &str = "telegram_stars";
/// Telegram Stars' currency code.
pub const XTR: &str = "XTR";
/// Longest order id (the invoice payload must fit Telegram's 128 bytes).
pub const MAX_ORDER_ID: usize = 40;
/// Longest provider payment id we store.
pub const MAX_PROVIDER_PAYMENT_ID: usize = 256;
/// Longest reason kept for a refused refund.
pub const MAX_REFUND_ERROR: usize = 300;

/// A confirmed payment as any provider reports it: what `CreditPayment` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderPayment {
    /// [`STARS`], or a webhook provider's id.
    pub provider: String,
    /// The provider's id of the payment (Telegram: `telegram_payment_charge_id`): the key
    /// that makes crediting idempotent.
    pub provider_payment_id: String,
    /// The order the invoice was for (from the invoice payload).
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
}

/// What a payment provider must do so that adding it touches no core code: turn its own
/// confirmation (a Telegram `successful_payment`, a signed webhook body) into a
/// [`ProviderPayment`], or say why it is not one. Crediting, idempotency by
/// `(provider, provider_payment_id)`, refunds' bookkeeping and the audit are the core's.
pub trait PaymentProvider {
    /// Stored in `payments.provider`; stable forever.
    fn id(&self) -> &'static str;
    /// The currency its invoices are in.
    fn currency(&self) -> &'static str;
    /// A confirmation in the provider's format, already authenticated by its transport
    /// (Telegram's update channel; a webhook's signature checked here), as a payment.
    fn confirmation(&self, input: &ProviderInput<'_>) -> Result<ProviderPayment, ProviderError>;
}

/// A provider's confirmation as it arrived.
pub enum ProviderInput<'a> {
    /// Telegram's `successful_payment`: the fields it carries.
    TelegramSuccessfulPayment {
        currency: &'a str,
        total_amount: i64,
        invoice_payload: &'a str,
        telegram_payment_charge_id: &'a str,
    },
    /// A webhook: its headers (lower-case names) and raw body, for the signature check.
    Webhook {
        headers: &'a [(String, String)],
        body: &'a [u8],
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("not a confirmation of this provider")]
    NotMine,
    #[error("bad signature")]
    BadSignature,
    #[error("malformed confirmation: {0}")]
    Malformed(String),
}

/// Telegram Stars: confirmations come through the bot's update channel (authenticated by
/// the bot token), refunds through `refundStarPayment`.
pub struct Stars;

impl PaymentProvider for Stars {
    fn id(&self) -> &'static str {
        STARS
    }

    fn currency(&self) -> &'static str {
        XTR
    }

    fn confirmation(&self, input: &ProviderInput<'_>) -> Result<ProviderPayment, ProviderError> {
        let ProviderInput::TelegramSuccessfulPayment {
            currency,
            total_amount,
            invoice_payload,
            telegram_payment_charge_id,
        } = input
        else {
            return Err(ProviderError::NotMine);
        };
        let payload = InvoicePayload::parse(invoice_payload)
            .ok_or_else(|| ProviderError::Malformed("invoice payload is not ours".into()))?;
        Ok(ProviderPayment {
            provider: STARS.into(),
            provider_payment_id: telegram_payment_charge_id.to_string(),
            order_id: payload.order_id,
            amount: *total_amount,
            currency: currency.to_string(),
        })
    }
}

/// The invoice payload: names the user, the plan and the order (`u<user>:p<plan>:o<order>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePayload {
    pub user_id: i64,
    pub plan_id: i64,
    pub order_id: String,
}

impl InvoicePayload {
    pub fn encode(&self) -> String {
        format!("u{}:p{}:o{}", self.user_id, self.plan_id, self.order_id)
    }

    pub fn parse(s: &str) -> Option<InvoicePayload> {
        let mut parts = s.splitn(3, ':');
        let user_id = parts.next()?.strip_prefix('u')?.parse().ok()?;
        let plan_id = parts.next()?.strip_prefix('p')?.parse().ok()?;
        let order_id = parts.next()?.strip_prefix('o')?.to_string();
        valid_order_id(&order_id).then_some(InvoicePayload {
            user_id,
            plan_id,
            order_id,
        })
    }
}

fn valid_order_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ORDER_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn validate_order_id(id: &str) -> Result<(), ValidationError> {
    if valid_order_id(id) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "order_id",
            format!("must be 1 to {MAX_ORDER_ID} characters of A-Z, a-z, 0-9, - or _"),
        ))
    }
}

/// `CreditPayment`: an order id, a provider payment id and a positive amount.
pub fn validate_credit(p: &ProviderPayment) -> Result<(), ValidationError> {
    validate_order_id(&p.order_id)?;
    if p.provider.is_empty() || p.provider.len() > 64 {
        return Err(ValidationError::new(
            "provider",
            "must be 1 to 64 characters",
        ));
    }
    if p.provider_payment_id.is_empty() || p.provider_payment_id.len() > MAX_PROVIDER_PAYMENT_ID {
        return Err(ValidationError::new(
            "provider_payment_id",
            format!("must be 1 to {MAX_PROVIDER_PAYMENT_ID} characters"),
        ));
    }
    if p.amount <= 0 {
        return Err(ValidationError::new("amount", "must be positive"));
    }
    Ok(())
}

/// `RefundResult`: a reason only for a refusal, and a short one.
pub fn validate_refund_result(ok: bool, error: Option<&str>) -> Result<(), ValidationError> {
    match (ok, error) {
        (true, Some(_)) => Err(ValidationError::new(
            "error",
            "only a refused refund has one",
        )),
        (_, Some(e)) if e.chars().count() > MAX_REFUND_ERROR => Err(ValidationError::new(
            "error",
            format!("at most {MAX_REFUND_ERROR} characters"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_rejects_foreign_ones() {
        let p = InvoicePayload {
            user_id: 7,
            plan_id: 3,
            order_id: "abc-DEF_1".into(),
        };
        assert_eq!(p.encode(), "u7:p3:oabc-DEF_1");
        assert_eq!(InvoicePayload::parse(&p.encode()), Some(p));
        for bad in ["", "u7:p3:o", "x7:p3:oa", "u7:p3:oa b", "u:p3:oa", "u7:p3"] {
            assert_eq!(InvoicePayload::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn stars_turns_a_successful_payment_into_a_provider_payment() {
        let input = ProviderInput::TelegramSuccessfulPayment {
            currency: "XTR",
            total_amount: 50,
            invoice_payload: "u1:p2:oORD1",
            telegram_payment_charge_id: "charge-1",
        };
        let p = Stars.confirmation(&input).unwrap();
        assert_eq!(p.provider, STARS);
        assert_eq!(p.provider_payment_id, "charge-1");
        assert_eq!(p.order_id, "ORD1");
        assert_eq!(p.amount, 50);
        let webhook = ProviderInput::Webhook {
            headers: &[],
            body: b"{}",
        };
        assert_eq!(Stars.confirmation(&webhook), Err(ProviderError::NotMine));
    }

    #[test]
    fn refund_result_reasons() {
        assert!(validate_refund_result(true, None).is_ok());
        assert!(validate_refund_result(false, Some("CHARGE_NOT_FOUND")).is_ok());
        assert!(validate_refund_result(true, Some("x")).is_err());
        assert!(validate_refund_result(false, Some(&"x".repeat(301))).is_err());
    }
}
