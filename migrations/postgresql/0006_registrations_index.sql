-- depends: 0005_chain_whole_record
-- Partners and API keys are listed from their registration events (GET /v1/partners,
-- GET /v1/keys, `keys list`): without an index that is a scan of the whole log. Partial
-- indexes hold only those events, so the write path of every other event pays nothing.

CREATE INDEX IF NOT EXISTS ledger_events_partner_registered_idx
    ON public.ledger_events (notification_id)
    WHERE topic = 'ledger.partner:Partner.PartnerRegistered';

CREATE INDEX IF NOT EXISTS ledger_events_key_issued_idx
    ON public.ledger_events (notification_id)
    WHERE topic = 'ledger.access:ApiKey.KeyIssued';
