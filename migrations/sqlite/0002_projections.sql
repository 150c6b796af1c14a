-- depends: 0001_events
-- Projection tables (read models) and the runner's tracking positions.
-- Written by projections/runner.py only; see projections/definitions.py for their meaning.

CREATE TABLE IF NOT EXISTS member_balances (
    member_key TEXT NOT NULL,
    member_id TEXT,
    status TEXT,
    enrolled_at TEXT,
    tier TEXT,
    available INTEGER,
    pending INTEGER,
    debt INTEGER,
    lifetime_earned INTEGER,
    lifetime_adjusted INTEGER,
    lifetime_redeemed INTEGER,
    lifetime_expired INTEGER,
    lifetime_reversed INTEGER,
    position INTEGER,
    updated_at TEXT,
    PRIMARY KEY (member_key)
);

CREATE TABLE IF NOT EXISTS member_lots (
    member_key TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    source TEXT,
    points INTEGER,
    remaining INTEGER,
    earned_at TEXT,
    available_at TEXT,
    expires_at TEXT,
    is_pending INTEGER,
    PRIMARY KEY (member_key, lot_id)
);

CREATE TABLE IF NOT EXISTS member_statement (
    position INTEGER NOT NULL,
    member_key TEXT,
    recorded_at TEXT,
    occurred_at TEXT,
    type TEXT,
    partner_id TEXT,
    transaction_id TEXT,
    points INTEGER,
    available_after INTEGER,
    pending_after INTEGER,
    detail TEXT,
    PRIMARY KEY (position)
);

CREATE TABLE IF NOT EXISTS member_tiers (
    member_key TEXT NOT NULL,
    tier TEXT,
    since TEXT,
    guaranteed_until TEXT,
    PRIMARY KEY (member_key)
);

CREATE TABLE IF NOT EXISTS qualifying_spend (
    accrual_id TEXT NOT NULL,
    member_key TEXT,
    occurred_at TEXT,
    amount TEXT,
    refunded TEXT,
    PRIMARY KEY (accrual_id)
);

CREATE TABLE IF NOT EXISTS partner_positions (
    partner_id TEXT NOT NULL,
    day TEXT NOT NULL,
    currency TEXT,
    points_issued INTEGER,
    amount_funded TEXT,
    points_reversed INTEGER,
    amount_reversed TEXT,
    points_redeemed INTEGER,
    amount_reimbursed TEXT,
    points_restored INTEGER,
    amount_restored TEXT,
    PRIMARY KEY (partner_id, day)
);

CREATE TABLE IF NOT EXISTS breakage_daily (
    source TEXT NOT NULL,
    day TEXT NOT NULL,
    points_expired INTEGER,
    points_forfeited INTEGER,
    PRIMARY KEY (source, day)
);

CREATE TABLE IF NOT EXISTS postings (
    position INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    account TEXT,
    debit INTEGER,
    credit INTEGER,
    recorded_at TEXT,
    PRIMARY KEY (position, seq)
);

CREATE TABLE IF NOT EXISTS event_hashes (
    position INTEGER NOT NULL,
    hash TEXT,
    PRIMARY KEY (position)
);

CREATE TABLE IF NOT EXISTS chain_head (
    id INTEGER NOT NULL,
    position INTEGER,
    hash TEXT,
    PRIMARY KEY (id)
);

CREATE INDEX IF NOT EXISTS member_statement_member_idx ON member_statement (member_key, position);
CREATE INDEX IF NOT EXISTS member_lots_expiry_idx ON member_lots (expires_at);
CREATE INDEX IF NOT EXISTS member_lots_activation_idx ON member_lots (available_at);
CREATE INDEX IF NOT EXISTS qualifying_spend_member_idx ON qualifying_spend (member_key, occurred_at);
CREATE INDEX IF NOT EXISTS postings_recorded_idx ON postings (recorded_at);
CREATE INDEX IF NOT EXISTS partner_positions_day_idx ON partner_positions (day);

CREATE TABLE IF NOT EXISTS projection_tracking (
    name text NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_at TEXT
);
