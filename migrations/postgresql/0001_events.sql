-- The events table exactly as eventsourcing 9.5.6 creates it for the "Ledger" application
-- (PostgresApplicationRecorder: table, notification index, composite type), made append-only
-- by triggers, and the service role `ledger_app` that may only read and append.

CREATE TABLE IF NOT EXISTS public.ledger_events (
    originator_id "uuid" NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

CREATE UNIQUE INDEX IF NOT EXISTS ledger_events_notification_id_idx
    ON public.ledger_events (notification_id ASC);

DO $$
BEGIN
    CREATE TYPE public.stored_event_uuid AS (
        originator_id "uuid", originator_version bigint, topic text, state bytea
    );
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

CREATE OR REPLACE FUNCTION public.ledger_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER ledger_events_no_update_delete
    BEFORE UPDATE OR DELETE ON public.ledger_events
    FOR EACH ROW EXECUTE FUNCTION public.ledger_events_append_only();

CREATE OR REPLACE TRIGGER ledger_events_no_truncate
    BEFORE TRUNCATE ON public.ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_events_append_only();

-- Roles are cluster-wide: another database's migration may create it at the same moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_app') THEN
        CREATE ROLE ledger_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- eventsourcing serialises writers with LOCK TABLE ... IN EXCLUSIVE MODE, which PostgreSQL
-- allows only to holders of UPDATE, DELETE or TRUNCATE. This function takes that lock for the
-- service role (LEDGER_CREATE_TABLES=false makes the recorder call it) without granting them.
CREATE OR REPLACE FUNCTION public.ledger_lock_events() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE public.ledger_events IN EXCLUSIVE MODE;
END
$$;

REVOKE ALL ON FUNCTION public.ledger_lock_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ledger_lock_events() TO ledger_app;

GRANT USAGE ON SCHEMA public TO ledger_app;
REVOKE ALL ON public.ledger_events FROM PUBLIC;
REVOKE ALL ON public.ledger_events FROM ledger_app;
GRANT SELECT, INSERT ON public.ledger_events TO ledger_app;
GRANT USAGE ON SEQUENCE public.ledger_events_notification_id_seq TO ledger_app;
GRANT SELECT ON public._yoyo_migration TO ledger_app;

-- Projection tables (later migrations, created by this same role) are the service's to
-- rewrite: upserts, and TRUNCATE on rebuild.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO ledger_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO ledger_app;
