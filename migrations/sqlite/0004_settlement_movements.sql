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
    position INTEGER NOT NULL,
    partner_id TEXT,
    recorded_at TEXT,
    currency TEXT,
    points_issued INTEGER,
    funded_minor INTEGER,
    points_redeemed INTEGER,
    reimbursed_minor INTEGER,
    PRIMARY KEY (position)
);

CREATE TABLE IF NOT EXISTS breakage_movements (
    position INTEGER NOT NULL,
    source TEXT NOT NULL,
    recorded_at TEXT,
    points_expired INTEGER,
    points_forfeited INTEGER,
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
UPDATE projection_tracking SET position = 0
    WHERE name IN ('member_tiers', 'partner_positions', 'postings', 'event_hashes');
