-- Payments in Telegram Stars (issue #16, pay).
-- An order is an invoice sent to a user: its price is fixed when it is created (the plan's,
-- less a pending promo discount), so the pre-checkout compares against what was offered.
CREATE TABLE payment_orders (
    id                      TEXT PRIMARY KEY,
    user_id                 INTEGER NOT NULL,
    telegram_id             INTEGER NOT NULL,
    plan_id                 INTEGER NOT NULL,
    amount                  INTEGER NOT NULL,
    currency                TEXT NOT NULL,
    discount_percent        INTEGER,
    discount_redemption_id  INTEGER,
    created_at              INTEGER NOT NULL,
    -- The payment that paid it (the first one, when a user managed to pay twice).
    payment_id              INTEGER
) STRICT;

-- One row per confirmed payment; (provider, provider_payment_id) is the idempotency key:
-- a second delivery of the same confirmation finds its row and credits nothing.
-- status: paid | refund_pending | refunded | refund_failed
CREATE TABLE payments (
    id                   INTEGER PRIMARY KEY,
    provider             TEXT NOT NULL,
    provider_payment_id  TEXT NOT NULL,
    order_id             TEXT NOT NULL,
    user_id              INTEGER NOT NULL,
    telegram_id          INTEGER,
    plan_id              INTEGER NOT NULL,
    amount               INTEGER NOT NULL,
    currency             TEXT NOT NULL,
    days                 INTEGER NOT NULL,
    status               TEXT NOT NULL,
    paid_at              INTEGER NOT NULL,
    refund_requested_by  TEXT,
    refunded_at          INTEGER,
    refund_error         TEXT,
    UNIQUE (provider, provider_payment_id)
) STRICT;
CREATE INDEX payments_paid_at ON payments(paid_at);
CREATE INDEX payments_status ON payments(status, id);
CREATE INDEX payments_user ON payments(user_id);
