//! The seam between a paid order (apply/payment.rs) and promo codes / referrals.
//!
//! These are the `pay` branch's no-op bodies: promo codes and referrals (branch `promo`)
//! write the real ones. The signatures are fixed (see OWNERSHIP.md of the session).
#![allow(dead_code)]

use crate::sql::{self, Conn};

/// A discount the user's redeemed-but-unused promo code gives on the next purchase.
pub(crate) struct Discount {
    /// The promo redemption that the paid order consumes.
    pub redemption_id: i64,
    /// 1..=100.
    pub percent: i64,
}

/// What a credited order was: passed to the hooks in the transaction that credits it.
pub(crate) struct Credited {
    pub user_id: i64,
    pub payment_id: i64,
    pub amount_stars: i64,
    /// The user's first successful (not refunded) payment ever.
    pub first_payment: bool,
    pub discount_redemption_id: Option<i64>,
    pub at: i64,
}

/// Read when an order (invoice) is created for `user_id`: its price is reduced by this.
pub(crate) fn pending_discount(
    _conn: &Conn,
    _user_id: i64,
) -> Result<Option<Discount>, sql::Error> {
    Ok(None)
}

/// In the transaction that credits a paid order (consumes the discount, rewards a referrer).
pub(crate) fn on_payment_credited(_conn: &Conn, _c: &Credited) -> Result<(), sql::Error> {
    Ok(())
}

/// In the transaction that marks a payment refunded after Telegram's yes (takes back a
/// referral reward paid for it).
pub(crate) fn on_payment_refunded(
    _conn: &Conn,
    _user_id: i64,
    _payment_id: i64,
    _at: i64,
) -> Result<(), sql::Error> {
    Ok(())
}
