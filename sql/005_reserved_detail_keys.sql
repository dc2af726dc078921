-- 005: the detail keys hookstack reserves are refused where events are written.
--
-- detail.hookstackRedrive (functions.events.REDRIVE_MARKER_KEY) is set only by
-- `python -m ops redrive`: every hookstack rule takes a marked event only when the marker names its
-- own destination, and signed deliveries take no marked event. An application that wrote it,
-- through publish() or a column hookstack_redrive of a table under emit_events, aimed its event at
-- one destination and past signed delivery. Now:
--   1. hookstack.reserved_detail_keys() lists the reserved keys (the SQL side's one owner; a test
--      checks it against functions.events.RESERVED_DETAIL_KEYS).
--   2. publish() refuses every reserved key in detail (tenantId only when it differs from
--      tenant_id, as before).
--   3. emit_events() refuses a table whose columns would become a reserved key (not excluded, not
--      renamed with key_map), naming them. A table already emitting events with such a column
--      gets a WARNING here: its writes now fail in publish() until the column is excluded or
--      renamed (SELECT hookstack.emit_events(...) again with exclude_columns or key_map).
--
-- Like every migration: idempotent, PostgreSQL 13+, applied by functions/migrate.py with
-- search_path = pg_catalog, pg_temp; every function pins the same search_path; and, as every file
-- that creates a hookstack function must, it ends by revoking EXECUTE from PUBLIC (a new function
-- is executable by PUBLIC, and ALTER DEFAULT PRIVILEGES IN SCHEMA cannot revoke that: per-schema
-- defaults only add to the global ones; docs/aurora.md, "Privileges").

CREATE OR REPLACE FUNCTION hookstack.reserved_detail_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['tenantId', 'eventId', 'hookstackRedrive']::text[]
$$;

-- The columns of target that the table trigger would turn into a reserved key, with that key.
CREATE OR REPLACE FUNCTION hookstack.reserved_key_columns(target regclass, tenant_column text, key_map jsonb, excluded text[])
RETURNS TABLE (column_name text, event_key text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.column_name, c.event_key
      FROM (SELECT a.attnum, a.attname::text AS column_name, hookstack.event_key(a.attname::text, key_map) AS event_key
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = target::oid AND a.attnum > 0 AND NOT a.attisdropped) c
     WHERE c.column_name <> tenant_column
       AND NOT (c.column_name = ANY (coalesce(excluded, '{}'::text[])))
       AND c.event_key = ANY (hookstack.reserved_detail_keys())
     ORDER BY c.attnum
$$;

-- Same as 002 (search_path and SECURITY DEFINER as pinned there), with every reserved key refused.
CREATE OR REPLACE FUNCTION hookstack.publish(event_type text, tenant_id text, detail jsonb DEFAULT '{}'::jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_event_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
    detail_bytes integer;
    reserved text[] := hookstack.reserved_detail_keys();
    reserved_key text;
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
    FOREACH reserved_key IN ARRAY reserved LOOP
        CONTINUE WHEN reserved_key = 'tenantId' OR NOT detail ? reserved_key;
        RAISE EXCEPTION 'hookstack.publish: detail must not contain "%" (hookstack reserves %: it sets them itself)',
            reserved_key, array_to_string(reserved, ', ')
            USING ERRCODE = 'invalid_parameter_value';
    END LOOP;
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

-- Same as 002 (SECURITY INVOKER, search_path as pinned by 004), plus the reserved-key check.
CREATE OR REPLACE FUNCTION hookstack.emit_events(
    target regclass,
    event_prefix text,
    tenant_column text DEFAULT 'tenant_id',
    key_map jsonb DEFAULT '{}'::jsonb,
    exclude_columns text[] DEFAULT '{}'::text[]
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text;
    clashes text;
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
        SELECT 1 FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = target::oid AND a.attname::text = c AND a.attnum > 0 AND NOT a.attisdropped)
     LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'hookstack.emit_events: % has no column %', target, quote_literal(missing)
            USING ERRCODE = 'undefined_column';
    END IF;
    SELECT string_agg(format('%I (detail.%s)', r.column_name, r.event_key), ', ') INTO clashes
      FROM hookstack.reserved_key_columns(target, tenant_column, key_map, exclude_columns) r;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION 'hookstack.emit_events: columns of % would become detail keys hookstack reserves (%): %',
            target, array_to_string(hookstack.reserved_detail_keys(), ', '), clashes
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave them out with exclude_columns or rename them with key_map.';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS hookstack_emit_events ON %s', target);
    EXECUTE format(
        'CREATE TRIGGER hookstack_emit_events AFTER INSERT OR UPDATE OR DELETE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION hookstack.table_event(%L, %L, %L, %L)',
        target, event_prefix, tenant_column, key_map::text, coalesce(exclude_columns, '{}')::text);
END
$$;

-- Tables that already emit events with such a column: their writes fail from now on (publish
-- refuses the key), where before they published an event carrying it. Say which, and how to fix.
-- The trigger's arguments (prefix, tenant column, key map, excluded columns) are in tgargs, each
-- followed by a zero byte.
DO $$
DECLARE
    t record;
    rest bytea;
    cut integer;
    args text[];
    clashes text;
BEGIN
    FOR t IN
        SELECT tg.tgrelid, tg.tgargs
          FROM pg_catalog.pg_trigger tg
         WHERE tg.tgfoid = 'hookstack.table_event()'::regprocedure::oid AND tg.tgname = 'hookstack_emit_events'
         ORDER BY tg.tgrelid::regclass::text
    LOOP
        args := '{}';
        rest := t.tgargs;
        WHILE length(rest) > 0 LOOP
            cut := position('\x00'::bytea IN rest);
            EXIT WHEN cut = 0;
            args := args || convert_from(substring(rest FROM 1 FOR cut - 1), getdatabaseencoding());
            rest := substring(rest FROM cut + 1);
        END LOOP;
        CONTINUE WHEN cardinality(args) <> 4;
        SELECT string_agg(format('%I (detail.%s)', r.column_name, r.event_key), ', ') INTO clashes
          FROM hookstack.reserved_key_columns(t.tgrelid::regclass, args[2], args[3]::jsonb, args[4]::text[]) r;
        IF clashes IS NOT NULL THEN
            RAISE WARNING 'hookstack: writes to % now fail: its columns % would become detail keys hookstack reserves; run hookstack.emit_events again with these columns in exclude_columns or renamed in key_map',
                t.tgrelid::regclass, clashes;
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hookstack FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    hookstack.reserved_detail_keys(),
    hookstack.reserved_key_columns(regclass, text, jsonb, text[])
    TO hookstack_publisher;

-- emit_events runs as its caller, who now needs EXECUTE on the two functions above: a role
-- granted emit_events directly rather than through hookstack_publisher gets them too.
DO $$
DECLARE
    grantee oid;
BEGIN
    FOR grantee IN
        SELECT DISTINCT acl.grantee
          FROM pg_catalog.pg_proc p
         CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) acl
         WHERE p.oid = 'hookstack.emit_events(regclass, text, text, jsonb, text[])'::regprocedure::oid
           AND acl.privilege_type = 'EXECUTE' AND acl.grantee <> p.proowner AND acl.grantee <> 0::oid
    LOOP
        IF NOT (has_function_privilege(grantee, 'hookstack.reserved_detail_keys()', 'EXECUTE')
                AND has_function_privilege(grantee, 'hookstack.reserved_key_columns(regclass, text, jsonb, text[])', 'EXECUTE')) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION hookstack.reserved_detail_keys(), '
                           'hookstack.reserved_key_columns(regclass, text, jsonb, text[]) TO %I', pg_get_userbyid(grantee));
        END IF;
    END LOOP;
END
$$;
