-- depends: 0002_projections
-- The member id of each member key, kept by the postings projection itself so that it reads
-- no other projection's table and can run in its own process (projections.definitions.GROUPS).
-- Filled from member_balances here: until now both projections moved together, so they
-- stand at the same position.

CREATE TABLE IF NOT EXISTS member_accounts (
    member_key text NOT NULL,
    member_id text,
    PRIMARY KEY (member_key)
);

INSERT INTO member_accounts (member_key, member_id)
    SELECT member_key, member_id FROM member_balances
    ON CONFLICT (member_key) DO NOTHING;

DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON member_accounts TO ledger_app;
    END IF;
END $$;
