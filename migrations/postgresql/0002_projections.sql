-- depends: 0001_events
-- Projection tables (read models) and the runner's tracking positions.
-- Written by projections/runner.py only; see projections/definitions.py for their meaning.

CREATE TABLE IF NOT EXISTS member_balances (
    member_key text NOT NULL,
    member_id text,
    status text,
    enrolled_at timestamptz,
    tier text,
    available bigint,
    pending bigint,
    debt bigint,
    lifetime_earned bigint,
    lifetime_adjusted bigint,
    lifetime_redeemed bigint,
    lifetime_expired bigint,
    lifetime_reversed bigint,
    position bigint,
    updated_at timestamptz,
    PRIMARY KEY (member_key)
);

CREATE TABLE IF NOT EXISTS member_lots (
    member_key text NOT NULL,
    lot_id text NOT NULL,
    source text,
    points bigint,
    remaining bigint,
    earned_at timestamptz,
    available_at timestamptz,
    expires_at timestamptz,
    is_pending boolean,
    PRIMARY KEY (member_key, lot_id)
);

CREATE TABLE IF NOT EXISTS member_statement (
    position bigint NOT NULL,
    member_key text,
    recorded_at timestamptz,
    occurred_at timestamptz,
    type text,
    partner_id text,
    transaction_id text,
    points bigint,
    available_after bigint,
    pending_after bigint,
    detail text,
    PRIMARY KEY (position)
);

CREATE TABLE IF NOT EXISTS member_tiers (
    member_key text NOT NULL,
    tier text,
    since timestamptz,
    guaranteed_until timestamptz,
    PRIMARY KEY (member_key)
);

CREATE TABLE IF NOT EXISTS qualifying_spend (
    accrual_id text NOT NULL,
    member_key text,
    occurred_at timestamptz,
    amount numeric,
    refunded numeric,
    PRIMARY KEY (accrual_id)
);

CREATE TABLE IF NOT EXISTS partner_positions (
    partner_id text NOT NULL,
    day date NOT NULL,
    currency text,
    points_issued bigint,
    amount_funded numeric,
    points_reversed bigint,
    amount_reversed numeric,
    points_redeemed bigint,
    amount_reimbursed numeric,
    points_restored bigint,
    amount_restored numeric,
    PRIMARY KEY (partner_id, day)
);

CREATE TABLE IF NOT EXISTS breakage_daily (
    source text NOT NULL,
    day date NOT NULL,
    points_expired bigint,
    points_forfeited bigint,
    PRIMARY KEY (source, day)
);

CREATE TABLE IF NOT EXISTS postings (
    position bigint NOT NULL,
    seq bigint NOT NULL,
    account text,
    debit bigint,
    credit bigint,
    recorded_at timestamptz,
    PRIMARY KEY (position, seq)
);

CREATE TABLE IF NOT EXISTS event_hashes (
    position bigint NOT NULL,
    hash text,
    PRIMARY KEY (position)
);

CREATE TABLE IF NOT EXISTS chain_head (
    id bigint NOT NULL,
    position bigint,
    hash text,
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
    position bigint NOT NULL,
    updated_at timestamptz
);

-- The service role maintains the read models (rebuild truncates them). The role exists once
-- `loyalty-ledger migrate` has run; a bare database whose service creates its own tables
-- (LEDGER_CREATE_TABLES) has none, and needs no grant.
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
            member_balances, member_lots, member_statement, member_tiers, qualifying_spend,
            partner_positions, breakage_daily, postings, event_hashes, chain_head,
            projection_tracking
            TO ledger_app;
    END IF;
END $$;
