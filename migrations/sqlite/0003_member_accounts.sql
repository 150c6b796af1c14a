-- depends: 0002_projections
-- The member id of each member key, kept by the postings projection itself so that it reads
-- no other projection's table and can run in its own process (projections.definitions.GROUPS).
-- Filled from member_balances here: until now both projections moved together, so they
-- stand at the same position.

CREATE TABLE IF NOT EXISTS member_accounts (
    member_key TEXT NOT NULL,
    member_id TEXT,
    PRIMARY KEY (member_key)
);

INSERT OR IGNORE INTO member_accounts (member_key, member_id)
    SELECT member_key, member_id FROM member_balances;
