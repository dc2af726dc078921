-- 004: least privilege for the outbox functions (closes a privilege escalation).
--
-- Applied migrations are immutable (their checksums are recorded in hookstack.schema_migrations
-- and a changed file is refused), so deployed databases get these fixes from this new file, not
-- from edits to 002. Like every migration it is idempotent: ALTER/CREATE OR REPLACE, guarded DO
-- blocks, GRANT/REVOKE (docs/aurora.md, "Privileges").
--
-- 1. hookstack.table_event() was SECURITY DEFINER and ran to_jsonb(NEW) as the owner (the master
--    user, rds_superuser on Aurora). to_jsonb calls a column type's cast to json; a role that
--    could create a type, a cast and a table, then attach the trigger with emit_events, had its
--    cast function run with the owner's rights (it could make itself superuser). The trigger now
--    runs as the writer; only publish() keeps the owner's rights, and its arguments arrive already
--    converted to text/jsonb, so it evaluates nothing the caller defined.
-- 2. hookstack.dispatch() (SECURITY DEFINER, reads NEW) could be attached by anyone to their own
--    table, whose NEW columns may be of types with casts to json: EXECUTE is revoked from PUBLIC
--    and it refuses to run for any table but hookstack.outbox.
-- 3. Every function pins search_path. The relay and sweeper call the claim functions as the
--    master user, whose search_path includes public; on PostgreSQL 13/14 every role may CREATE
--    there, and a better-matching public.make_interval(secs integer), public.power(int, int) or
--    public.to_jsonb(timestamp) would have run as the master user.
-- 4. EXECUTE is revoked from PUBLIC on every hookstack function. Roles that publish get the group
--    role hookstack_publisher (USAGE on the schema, EXECUTE on publish, emit_events, stop_events
--    and the table trigger's helpers); the relay, sweeper and migrations run as the owner.
--    Roles that could publish before (they write to a table that emits events, or hold USAGE on
--    the schema) are made members, so existing applications keep working.

-- 3. search_path pinned everywhere (the SECURITY DEFINER ones already were).
ALTER FUNCTION hookstack.max_detail_bytes() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.configure_relay(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.utc_text(timestamptz) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.transaction_status(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.retry_delay(integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.claim_event(text, bigint, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.claim_due(integer, integer, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.mark_published(text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.release(text[], text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.purge_published(integer, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.backlog() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.event_key(text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.row_detail(jsonb, text, jsonb, text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.emit_events(regclass, text, text, jsonb, text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION hookstack.stop_events(regclass) SET search_path = pg_catalog, pg_temp;

-- 1. The row trigger runs as the role that wrote the row (SECURITY INVOKER): the row's casts and
-- output functions run with that role's rights, never the owner's. Same body as in 002, plus a
-- clear error for a writer that may not publish (instead of "permission denied for schema").
CREATE OR REPLACE FUNCTION hookstack.table_event() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
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
    may_publish   boolean := false;
BEGIN
    IF has_schema_privilege('hookstack', 'USAGE') THEN  -- looking the function up needs USAGE
        may_publish := has_function_privilege('hookstack.publish(text, text, jsonb)', 'EXECUTE');
    END IF;
    IF NOT may_publish THEN
        RAISE EXCEPTION 'hookstack: writes to %.% publish events, and role % may not publish events',
            TG_TABLE_SCHEMA, TG_TABLE_NAME, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT hookstack_publisher TO %I;', current_user);
    END IF;
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

-- 2. The commit trigger keeps the owner's rights (aws_lambda.invoke, the outbox UPDATE), so it
-- only ever reads rows of hookstack.outbox (text and bigint columns: no caller-defined cast).
CREATE OR REPLACE FUNCTION hookstack.dispatch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    target hookstack.relay_target%ROWTYPE;
BEGIN
    IF TG_RELID <> 'hookstack.outbox'::regclass OR TG_OP <> 'INSERT' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'hookstack.dispatch() is only the trigger of hookstack.outbox; it was fired for % on %',
            TG_OP, TG_RELID::regclass USING ERRCODE = 'insufficient_privilege';
    END IF;
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

-- 4. Who may call what. Roles are cluster-wide: the role may already exist (another database of
-- the cluster, or a concurrent deploy).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'hookstack_publisher') THEN
        CREATE ROLE hookstack_publisher NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

REVOKE ALL ON SCHEMA hookstack FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA hookstack FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA hookstack FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hookstack FROM PUBLIC;

GRANT USAGE ON SCHEMA hookstack TO hookstack_publisher;
GRANT EXECUTE ON FUNCTION
    hookstack.publish(text, text, jsonb),
    hookstack.publish(text, bigint, jsonb),
    hookstack.max_detail_bytes(),
    hookstack.emit_events(regclass, text, text, jsonb, text[]),
    hookstack.stop_events(regclass),
    hookstack.table_event(),
    hookstack.row_detail(jsonb, text, jsonb, text[]),
    hookstack.event_key(text, jsonb)
    TO hookstack_publisher;

-- Keep existing applications working: a role that may write to a table carrying the event
-- trigger (as its owner, or by table or column grant), or that holds USAGE on the schema (publish
-- was executable by PUBLIC), becomes a member of hookstack_publisher, unless it can already
-- publish (the owner, superusers, members, roles with their own grants). PUBLIC cannot be made a
-- member: a warning names the tables whose writers need the role.
DO $$
DECLARE
    candidate record;
BEGIN
    FOR candidate IN
        WITH emitting AS (
            SELECT DISTINCT t.tgrelid AS relid
              FROM pg_catalog.pg_trigger t
             WHERE t.tgfoid = 'hookstack.table_event()'::pg_catalog.regprocedure
        ), candidates AS (
            SELECT acl.grantee, e.relid::pg_catalog.regclass::text AS reason
              FROM emitting e
              JOIN pg_catalog.pg_class c ON c.oid = e.relid
             CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) acl
             WHERE acl.privilege_type IN ('INSERT', 'UPDATE', 'DELETE')
            UNION
            SELECT acl.grantee, e.relid::pg_catalog.regclass::text
              FROM emitting e
              JOIN pg_catalog.pg_attribute a ON a.attrelid = e.relid AND a.attacl IS NOT NULL
             CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) acl
             WHERE acl.privilege_type IN ('INSERT', 'UPDATE')
            UNION
            SELECT acl.grantee, 'USAGE on schema hookstack'
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) acl
             WHERE n.nspname = 'hookstack' AND acl.privilege_type = 'USAGE'
        )
        SELECT grantee, pg_catalog.string_agg(reason, ', ' ORDER BY reason) AS reasons
          FROM candidates
         GROUP BY grantee
         ORDER BY grantee
    LOOP
        IF candidate.grantee = 0 THEN
            RAISE WARNING 'hookstack: PUBLIC may write to % (these writes publish events); grant hookstack_publisher to the roles that write there',
                candidate.reasons;
        ELSIF NOT (
            pg_catalog.has_schema_privilege(candidate.grantee, 'hookstack', 'USAGE')
            AND pg_catalog.has_function_privilege(candidate.grantee, 'hookstack.publish(text, text, jsonb)', 'EXECUTE')
            AND pg_catalog.has_function_privilege(candidate.grantee, 'hookstack.row_detail(jsonb, text, jsonb, text[])', 'EXECUTE')
            AND pg_catalog.has_function_privilege(candidate.grantee, 'hookstack.event_key(text, jsonb)', 'EXECUTE')
        ) THEN
            EXECUTE pg_catalog.format('GRANT hookstack_publisher TO %I', pg_catalog.pg_get_userbyid(candidate.grantee));
            RAISE NOTICE 'hookstack: granted hookstack_publisher to % (%)',
                pg_catalog.pg_get_userbyid(candidate.grantee), candidate.reasons;
        END IF;
    END LOOP;
END
$$;
