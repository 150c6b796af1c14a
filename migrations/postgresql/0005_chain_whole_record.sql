-- depends: 0004_settlement_movements
-- The hash chain covers the whole stored record: hash_n = sha256(hash_{n-1} || position,
-- stream id, stream version, type, then the stored state with its recorded time and data)
-- (projections.definitions.chain_hash). Version 1 hashed the topic and state only, so it
-- did not see an event moved to another member or renumbered.
--
-- The hashes stored under version 1 are dropped and the projection group that holds them
-- (the "finance" group of projections.definitions.GROUPS, whose projections always stand at
-- one position) is emptied and put back to position 0: the runner rebuilds it, and the
-- chain, from the log on its next round. Digests kept before the upgrade are of version 1:
-- check them with `loyalty-ledger audit verify` before upgrading, and keep a new one after.

DELETE FROM member_tiers;
DELETE FROM qualifying_spend;
DELETE FROM partner_positions;
DELETE FROM breakage_daily;
DELETE FROM partner_movements;
DELETE FROM breakage_movements;
DELETE FROM postings;
DELETE FROM member_accounts;
DELETE FROM event_hashes;
DELETE FROM chain_head;
UPDATE projection_tracking SET position = 0, updated_at = now()
    WHERE name IN ('member_tiers', 'partner_positions', 'postings', 'event_hashes');
