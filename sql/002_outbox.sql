-- 002: the transactional outbox. Database writes become events, with no phantom and no loss.
--
--   hookstack.publish(event_type, tenant_id, detail)   -- call it in the writing transaction
--        |  INSERT INTO hookstack.outbox (same transaction: commits or rolls back with the write)
--        v
--   deferred constraint trigger, fired at COMMIT only for rows that are still there (a rolled-back
--   transaction or savepoint queues nothing), calls aws_lambda.invoke(relay, {eventId, txid}, 'Event').
--   A failing invoke is caught: the write still commits, the row waits for the sweeper.
--        |
--        v
--   relay Lambda: claim_event() publishes only rows it can see committed (a commit that failed
--   after the trigger ran leaves an invisible row: pg_xact_status says 'aborted', nothing is sent),
--   then mark_published().  The sweeper Lambda: claim_due() re-sends every committed row still
--   unpublished after a grace period.  A lease (not_before) keeps the two from sending a row at
--   the same time; a crash between PutEvents and mark_published re-sends with the same eventId
--   (at-least-once, never at-most-once).
--
-- Runs on Aurora PostgreSQL 13+: pg_current_xact_id()/pg_xact_status() and gen_random_uuid() are
-- core since 13; nothing here needs 14+ (no CREATE OR REPLACE TRIGGER, MERGE, NULLS NOT DISTINCT,
-- SQL-standard function bodies, OUT parameters in procedures).

CREATE SCHEMA IF NOT EXISTS hookstack;

-- Where the relay lives; filled by the migration function on every deploy (configure_relay).
-- No row: nothing is invoked at commit and the sweeper publishes everything.
CREATE TABLE IF NOT EXISTS hookstack.relay_target (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    function_arn text NOT NULL,
    region       text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS hookstack.outbox (
    event_id     text PRIMARY KEY,              -- evt_<uuid hex>: the event's stable eventId
    tenant_id    text NOT NULL,
    event_type   text NOT NULL,                 -- becomes detail-type
    detail       jsonb NOT NULL,
    txid         bigint NOT NULL,               -- top-level transaction (pg_current_xact_id)
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,                   -- set once PutEvents accepted the event
    attempts     integer NOT NULL DEFAULT 0,    -- claims so far (relay or sweeper)
    not_before   timestamptz,                   -- lease while a worker publishes, then backoff
    last_error   text
);

CREATE INDEX IF NOT EXISTS outbox_unpublished ON hookstack.outbox (created_at) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_published ON hookstack.outbox (published_at) WHERE published_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Writing events
-- ---------------------------------------------------------------------------------------------

-- EventBridge accepts 256 KiB per PutEvents entry (source, detail-type and detail together);
-- the relay adds tenantId and eventId. Larger events are refused here, where the writer sees the
-- error, rather than failing forever in the relay.
CREATE OR REPLACE FUNCTION hookstack.max_detail_bytes() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 240000 $$;

-- SECURITY DEFINER (owned by the migrating user): application roles need no privilege on the
-- outbox or on aws_lambda; whoever may EXECUTE this (PUBLIC by default, once granted USAGE on the
-- schema) may publish. search_path is pinned so a caller cannot substitute objects.
CREATE OR REPLACE FUNCTION hookstack.publish(event_type text, tenant_id text, detail jsonb DEFAULT '{}'::jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_event_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
    detail_bytes integer;
BEGIN
    IF event_type IS NULL OR length(event_type) NOT BETWEEN 1 AND 128 OR event_type ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'hookstack.publish: event_type must be 1-128 printable characters (it becomes the detail-type); got %',
            coalesce(quote_literal(left(event_type, 200)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tenant_id IS NULL OR tenant_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' THEN
        RAISE EXCEPTION 'hookstack.publish: tenant_id must be 1-64 characters of A-Z, a-z, 0-9, "_", ".", ":" and "-", starting with a letter or digit; got %',
            coalesce(quote_literal(left(tenant_id, 100)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF detail IS NULL OR jsonb_typeof(detail) <> 'object' THEN
        RAISE EXCEPTION 'hookstack.publish: detail must be a JSON object; got %', coalesce(jsonb_typeof(detail), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF detail ? 'eventId' THEN
        RAISE EXCEPTION 'hookstack.publish: detail must not contain "eventId" (hookstack sets it to the outbox row id)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF detail ? 'tenantId' AND detail ->> 'tenantId' IS DISTINCT FROM tenant_id THEN
        RAISE EXCEPTION 'hookstack.publish: detail.tenantId (%) differs from tenant_id (%); leave it out, hookstack sets it',
            detail ->> 'tenantId', tenant_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    detail_bytes := octet_length(detail::text);
    IF detail_bytes > hookstack.max_detail_bytes() THEN
        RAISE EXCEPTION 'hookstack.publish: detail is % bytes; at most % fit in an EventBridge event (store large data elsewhere and publish a reference)',
            detail_bytes, hookstack.max_detail_bytes()
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    INSERT INTO hookstack.outbox (event_id, tenant_id, event_type, detail, txid)
    VALUES (new_event_id, publish.tenant_id, publish.event_type, publish.detail, pg_current_xact_id()::text::bigint);
    RETURN new_event_id;
END
$$;

-- Convenience for integer tenant keys (the seed's tenant.tenantId is an int).
CREATE OR REPLACE FUNCTION hookstack.publish(event_type text, tenant_id bigint, detail jsonb DEFAULT '{}'::jsonb)
RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ SELECT hookstack.publish($1, $2::text, $3) $$;

-- ---------------------------------------------------------------------------------------------
-- Invoking the relay at commit
-- ---------------------------------------------------------------------------------------------

-- SECURITY DEFINER: aws_lambda.invoke runs as the migrating user (rds_superuser on Aurora),
-- whichever role committed the write.
CREATE OR REPLACE FUNCTION hookstack.dispatch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    target hookstack.relay_target%ROWTYPE;
BEGIN
    SELECT * INTO target FROM hookstack.relay_target WHERE singleton;
    IF NOT FOUND THEN
        RETURN NULL;  -- no relay configured: the sweeper publishes the row
    END IF;
    BEGIN
        -- 'Event' = asynchronous: Lambda queues the payload and answers 202 without running the
        -- relay, so the commit waits for one short API call, not for the publication.
        PERFORM aws_lambda.invoke(
            aws_commons.create_lambda_function_arn(target.function_arn, target.region),
            json_build_object('eventId', NEW.event_id, 'txid', NEW.txid,
                              'tenantId', NEW.tenant_id, 'eventType', NEW.event_type),
            'Event');
    EXCEPTION WHEN OTHERS THEN
        -- Never fail (or lose) the write because Lambda could not be reached.
        UPDATE hookstack.outbox SET last_error = left('relay invoke failed: ' || SQLERRM, 1000)
        WHERE event_id = NEW.event_id;
        RAISE WARNING 'hookstack: could not invoke the relay for % (the sweeper will publish it): %',
            NEW.event_id, SQLERRM;
    END;
    RETURN NULL;
END
$$;

-- DEFERRABLE INITIALLY DEFERRED: fires at COMMIT, once per row that survived (rows of a rolled-back
-- savepoint or transaction never fire). A transaction that runs SET CONSTRAINTS ALL IMMEDIATE makes
-- it fire at insert time instead: still safe, the relay only publishes committed rows.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgrelid = 'hookstack.outbox'::regclass AND tgname = 'outbox_dispatch_at_commit'
    ) THEN
        CREATE CONSTRAINT TRIGGER outbox_dispatch_at_commit
            AFTER INSERT ON hookstack.outbox
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION hookstack.dispatch();
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION hookstack.configure_relay(function_arn text, region text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF function_arn IS NULL OR function_arn !~ '^arn[:]aws[a-z-]*[:]lambda[:][a-z0-9-]+[:][0-9]{12}[:]function[:][A-Za-z0-9_-]{1,64}$' THEN
        RAISE EXCEPTION 'hookstack.configure_relay: function_arn must be an unqualified Lambda function ARN; got %',
            coalesce(quote_literal(function_arn), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF region IS NULL OR region !~ '^[a-z]{2}(-[a-z]+)+-[0-9]$' THEN
        RAISE EXCEPTION 'hookstack.configure_relay: region must be an AWS region like us-east-1; got %',
            coalesce(quote_literal(region), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO hookstack.relay_target (singleton, function_arn, region) VALUES (true, function_arn, region)
    ON CONFLICT (singleton) DO UPDATE
        SET function_arn = EXCLUDED.function_arn, region = EXCLUDED.region, updated_at = now();
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Reading events (relay and sweeper; every call is one Data API statement, auto-committed)
-- ---------------------------------------------------------------------------------------------

-- ISO 8601 in UTC, e.g. 2026-01-02T03:04:05.678901Z (JSON's timestamp format; no format string,
-- so no "colon + letters" that the Data API could mistake for a named parameter).
CREATE OR REPLACE FUNCTION hookstack.utc_text(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT (to_jsonb(ts AT TIME ZONE 'UTC') #>> '{}') || 'Z' $$;

-- 'committed', 'in progress', 'aborted', or NULL when PostgreSQL no longer knows (or never knew)
-- the transaction.
CREATE OR REPLACE FUNCTION hookstack.transaction_status(txid bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN pg_xact_status(txid::text::xid8);
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- Backoff after a failed publication: 30 s, 1, 2, 4, 8 min, then every 15 min.
CREATE OR REPLACE FUNCTION hookstack.retry_delay(attempts integer) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT make_interval(secs => least(900, 30 * power(2, least(greatest(attempts, 1), 10) - 1)))
$$;

-- The relay's claim on one event. status:
--   claimed      the row is committed and now leased to the caller: publish it, then mark_published
--   published    already published (a duplicate invocation): nothing to do
--   leased       another worker holds it, or it is backing off after a failure: the sweeper owns it
--   pending      not visible yet, its transaction is still in progress: try again shortly
--   rolled_back  its transaction aborted (e.g. the commit failed after the trigger ran): never publish
--   missing      not there and its transaction is not in progress (purged after publication, or unknown)
CREATE OR REPLACE FUNCTION hookstack.claim_event(p_event_id text, p_txid bigint, p_lease_seconds integer DEFAULT 60)
RETURNS TABLE (status text, event_id text, tenant_id text, event_type text, detail text, created_at text, attempts integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r hookstack.outbox%ROWTYPE;
    xact text;
BEGIN
    UPDATE hookstack.outbox o
       SET attempts = o.attempts + 1, not_before = now() + make_interval(secs => p_lease_seconds)
     WHERE o.event_id = p_event_id
       AND o.published_at IS NULL
       AND (o.not_before IS NULL OR o.not_before <= now())
    RETURNING o.* INTO r;
    IF FOUND THEN
        RETURN QUERY SELECT 'claimed'::text, r.event_id, r.tenant_id, r.event_type, r.detail::text,
                            hookstack.utc_text(r.created_at), r.attempts;
        RETURN;
    END IF;
    SELECT o.* INTO r FROM hookstack.outbox o WHERE o.event_id = p_event_id;
    IF FOUND THEN
        RETURN QUERY SELECT CASE WHEN r.published_at IS NULL THEN 'leased' ELSE 'published' END::text,
                            r.event_id, NULL::text, NULL::text, NULL::text, NULL::text, r.attempts;
        RETURN;
    END IF;
    xact := hookstack.transaction_status(p_txid);
    RETURN QUERY SELECT CASE xact WHEN 'in progress' THEN 'pending' WHEN 'aborted' THEN 'rolled_back' ELSE 'missing' END::text,
                        p_event_id, NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer;
END
$$;

-- The sweeper's claim: committed rows still unpublished after the grace period, oldest first,
-- skipping rows another worker holds (SKIP LOCKED + lease).
CREATE OR REPLACE FUNCTION hookstack.claim_due(p_grace_seconds integer, p_lease_seconds integer, p_limit integer)
RETURNS TABLE (event_id text, tenant_id text, event_type text, detail text, created_at text, attempts integer)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT o.event_id
          FROM hookstack.outbox o
         WHERE o.published_at IS NULL
           AND o.created_at <= now() - make_interval(secs => p_grace_seconds)
           AND (o.not_before IS NULL OR o.not_before <= now())
         ORDER BY o.created_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    )
    UPDATE hookstack.outbox o
       SET attempts = o.attempts + 1, not_before = now() + make_interval(secs => p_lease_seconds)
      FROM due
     WHERE o.event_id = due.event_id
    RETURNING o.event_id, o.tenant_id, o.event_type, o.detail::text, hookstack.utc_text(o.created_at), o.attempts
$$;

CREATE OR REPLACE FUNCTION hookstack.mark_published(p_event_ids text[]) RETURNS integer
LANGUAGE sql AS $$
    WITH done AS (
        UPDATE hookstack.outbox o
           SET published_at = now(), not_before = NULL, last_error = NULL
         WHERE o.event_id = ANY (p_event_ids) AND o.published_at IS NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM done
$$;

-- A worker could not publish these: back off (retry_delay) and remember why.
CREATE OR REPLACE FUNCTION hookstack.release(p_event_ids text[], p_error text) RETURNS integer
LANGUAGE sql AS $$
    WITH released AS (
        UPDATE hookstack.outbox o
           SET not_before = now() + hookstack.retry_delay(o.attempts), last_error = left(p_error, 1000)
         WHERE o.event_id = ANY (p_event_ids) AND o.published_at IS NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM released
$$;

-- Published rows are kept for p_retention_days (for audits and replays by hand), then deleted.
CREATE OR REPLACE FUNCTION hookstack.purge_published(p_retention_days integer, p_limit integer DEFAULT 10000)
RETURNS integer
LANGUAGE sql AS $$
    WITH old AS (
        SELECT o.event_id FROM hookstack.outbox o
         WHERE o.published_at < now() - make_interval(days => p_retention_days)
         ORDER BY o.published_at
         LIMIT p_limit
    ), deleted AS (
        DELETE FROM hookstack.outbox o USING old WHERE o.event_id = old.event_id RETURNING 1
    )
    SELECT count(*)::integer FROM deleted
$$;

-- What the sweeper logs each run (and what an operator looks at first).
CREATE OR REPLACE FUNCTION hookstack.backlog()
RETURNS TABLE (unpublished bigint, oldest_seconds double precision, failing bigint)
LANGUAGE sql STABLE AS $$
    SELECT count(*),
           coalesce(extract(epoch FROM now() - min(o.created_at)), 0)::double precision,
           count(*) FILTER (WHERE o.last_error IS NOT NULL)
      FROM hookstack.outbox o
     WHERE o.published_at IS NULL
$$;

-- ---------------------------------------------------------------------------------------------
-- Any table can emit events: SELECT hookstack.emit_events('public.orders', 'order', 'tenant_id');
-- ---------------------------------------------------------------------------------------------

-- snake_case column -> camelCase event key, unless key_map renames it.
CREATE OR REPLACE FUNCTION hookstack.event_key(column_name text, key_map jsonb DEFAULT '{}'::jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(
        key_map ->> column_name,
        (SELECT string_agg(CASE WHEN t.ord = 1 THEN t.part ELSE upper(left(t.part, 1)) || substr(t.part, 2) END, ''
                           ORDER BY t.ord)
           FROM unnest(string_to_array(column_name, '_')) WITH ORDINALITY AS t(part, ord)))
$$;

CREATE OR REPLACE FUNCTION hookstack.row_detail(row_data jsonb, tenant_column text, key_map jsonb, excluded text[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(hookstack.event_key(e.key, key_map), e.value), '{}'::jsonb)
      FROM jsonb_each(row_data) e
     WHERE e.key <> tenant_column AND NOT (e.key = ANY (excluded))
$$;

-- The row trigger emit_events() attaches. TG_ARGV: event prefix, tenant column, key map, excluded columns.
CREATE OR REPLACE FUNCTION hookstack.table_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    prefix        text := TG_ARGV[0];
    tenant_column text := TG_ARGV[1];
    key_map       jsonb := TG_ARGV[2]::jsonb;
    excluded      text[] := TG_ARGV[3]::text[];
    new_row       jsonb;
    old_row       jsonb;
    changed       text[];
    tenant        text;
    detail        jsonb;
BEGIN
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.key ORDER BY n.key) INTO changed
          FROM jsonb_each(new_row) n
         WHERE n.value IS DISTINCT FROM old_row -> n.key AND NOT (n.key = ANY (excluded));
        IF changed IS NULL THEN
            RETURN NULL;  -- nothing visible changed: no event
        END IF;
    END IF;
    tenant := coalesce(new_row, old_row) ->> tenant_column;
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'hookstack: %.% has no tenant in column % (events need a tenant)',
            TG_TABLE_SCHEMA, TG_TABLE_NAME, tenant_column USING ERRCODE = 'not_null_violation';
    END IF;
    detail := hookstack.row_detail(coalesce(new_row, old_row), tenant_column, key_map, excluded);
    IF TG_OP = 'UPDATE' THEN
        detail := detail || jsonb_build_object(
            'changedFields', (SELECT jsonb_agg(hookstack.event_key(c, key_map) ORDER BY c) FROM unnest(changed) c),
            'previous', hookstack.row_detail(
                (SELECT jsonb_object_agg(o.key, o.value) FROM jsonb_each(old_row) o WHERE o.key = ANY (changed)),
                tenant_column, key_map, excluded));
    END IF;
    PERFORM hookstack.publish(
        prefix || CASE TG_OP WHEN 'INSERT' THEN '.created' WHEN 'UPDATE' THEN '.updated' ELSE '.deleted' END,
        tenant, detail);
    RETURN NULL;
END
$$;

-- Attach (or re-attach with new options) AFTER INSERT/UPDATE/DELETE event publishing to a table.
-- Events: <prefix>.created / .updated / .deleted, detail = the row (camelCase keys, key_map
-- renames, exclude_columns left out, the tenant column carried as tenantId); updates add
-- changedFields and previous (old values of the changed fields); updates that change nothing
-- (or only excluded columns) publish nothing. TRUNCATE publishes nothing.
CREATE OR REPLACE FUNCTION hookstack.emit_events(
    target regclass,
    event_prefix text,
    tenant_column text DEFAULT 'tenant_id',
    key_map jsonb DEFAULT '{}'::jsonb,
    exclude_columns text[] DEFAULT '{}'::text[]
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    IF event_prefix IS NULL OR event_prefix !~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,110}$' THEN
        RAISE EXCEPTION 'hookstack.emit_events: event_prefix must be 1-111 characters of letters, digits, "_", ".", ":", "/" and "-"; got %',
            coalesce(quote_literal(event_prefix), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF key_map IS NULL OR jsonb_typeof(key_map) <> 'object' THEN
        RAISE EXCEPTION 'hookstack.emit_events: key_map must be a JSON object of column -> event key'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c INTO missing
      FROM unnest(ARRAY[tenant_column] || coalesce(exclude_columns, '{}') || ARRAY(SELECT jsonb_object_keys(key_map))) c
     WHERE NOT EXISTS (
        SELECT 1 FROM pg_attribute a
         WHERE a.attrelid = target AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped)
     LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'hookstack.emit_events: % has no column %', target, quote_literal(missing)
            USING ERRCODE = 'undefined_column';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS hookstack_emit_events ON %s', target);
    EXECUTE format(
        'CREATE TRIGGER hookstack_emit_events AFTER INSERT OR UPDATE OR DELETE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION hookstack.table_event(%L, %L, %L, %L)',
        target, event_prefix, tenant_column, key_map::text, coalesce(exclude_columns, '{}')::text);
END
$$;

CREATE OR REPLACE FUNCTION hookstack.stop_events(target regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS hookstack_emit_events ON %s', target);
END
$$;
