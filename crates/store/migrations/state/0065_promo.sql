-- Balances, promo codes, trials and referrals (issue #16 items 3–6). Written only by apply.
-- Ids are plain INTEGER PRIMARY KEYs (max + 1, the same on every node).

-- A user's balance in Telegram Stars; never below zero (apply refuses such a debit first).
CREATE TABLE user_balances (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    stars       INTEGER NOT NULL CHECK (stars >= 0),
    updated_at  INTEGER NOT NULL
) STRICT;

-- Every balance movement: who (actor), why, and the payment behind it when there is one.
-- Kept after the user is deleted (it is part of the money trail).
CREATE TABLE balance_ledger (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL,
    delta          INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    payment_id     INTEGER,
    at             INTEGER NOT NULL
) STRICT;
CREATE INDEX balance_ledger_user ON balance_ledger(user_id, id);

-- Promo codes. `uses` is a counter (not a count of redemptions) so deleting a user, which
-- drops their redemptions, never gives a used-up code a use back.
CREATE TABLE promo_codes (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
) STRICT;

-- One row per (code, user). A discount stays pending (`used_at` NULL) until a paid order
-- consumes it; days and traffic are used at once.
CREATE TABLE promo_redemptions (
    id          INTEGER PRIMARY KEY,
    code_id     INTEGER NOT NULL REFERENCES promo_codes(id),
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    used_at     INTEGER,
    payment_id  INTEGER,
    UNIQUE (code_id, user_id)
) STRICT;
CREATE INDEX promo_redemptions_pending ON promo_redemptions(user_id) WHERE used_at IS NULL;

-- Trials taken, keyed by Telegram account: no foreign key, so deleting the user keeps it.
CREATE TABLE trials_used (
    telegram_id  INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    plan_id      INTEGER NOT NULL,
    days         INTEGER NOT NULL,
    at           INTEGER NOT NULL
) STRICT;

-- Who referred whom, the reward terms fixed at binding, and its state:
-- 'pending' (no payment yet) → 'rewarded' (first payment credited) → 'reversed' (refunded).
CREATE TABLE referrals (
    referee_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    referrer_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reward_kind    TEXT NOT NULL,
    reward_amount  INTEGER NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    payment_id     INTEGER,
    -- What was given: days, or Stars credited.
    given          INTEGER NOT NULL DEFAULT 0,
    bound_at       INTEGER NOT NULL,
    rewarded_at    INTEGER,
    reversed_at    INTEGER
) STRICT;
CREATE INDEX referrals_referrer ON referrals(referrer_id);
