-- depends: 0003_member_accounts
-- Settlement and breakage for any instants (not only whole UTC days): one row per settling
-- event beside the day buckets, so a period sums its whole days from the buckets and its
-- partial first and last days from these rows (projections.definitions.PartnerPositions).
--
-- Events already applied have no such rows, so the projection group that holds
-- partner_positions (the "finance" group of projections.definitions.GROUPS, whose
-- projections always stand at one position) is emptied and put back to position 0: the
-- runner replays it from the log on its next round.

CREATE TABLE IF NOT EXISTS partner_movements (
    position bigint NOT NULL,
    partner_id text,
    recorded_at timestamptz,
    currency text,
    points_issued bigint,
    funded_minor bigint,
    points_redeemed bigint,
    reimbursed_minor bigint,
    PRIMARY KEY (position)
);

CREATE TABLE IF NOT EXISTS breakage_movements (
    position bigint NOT NULL,
    source text NOT NULL,
    recorded_at timestamptz,
    points_expired bigint,
    points_forfeited bigint,
    PRIMARY KEY (position, source)
);

CREATE INDEX IF NOT EXISTS partner_movements_recorded_idx ON partner_movements (recorded_at);
CREATE INDEX IF NOT EXISTS breakage_movements_recorded_idx ON breakage_movements (recorded_at);

DELETE FROM member_tiers;
DELETE FROM qualifying_spend;
DELETE FROM partner_positions;
DELETE FROM breakage_daily;
DELETE FROM postings;
DELETE FROM member_accounts;
DELETE FROM event_hashes;
DELETE FROM chain_head;
UPDATE projection_tracking SET position = 0, updated_at = now()
    WHERE name IN ('member_tiers', 'partner_positions', 'postings', 'event_hashes');

DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON partner_movements, breakage_movements
            TO ledger_app;
    END IF;
END $$;
