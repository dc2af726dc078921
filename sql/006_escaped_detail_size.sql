-- 006: publish() accepts only a detail the relay can send.
--
-- The relay writes detail as JSON with every non-ASCII character and DEL escaped (\uXXXX: 6 bytes, or 12
-- for a surrogate pair beyond U+FFFF), while 002-005 measured the UTF-8 text (2-4 bytes a
-- character). A detail of non-ASCII text within max_detail_bytes() as UTF-8 could be two to three
-- times larger on the bus, past EventBridge's 256 KiB: publish() accepted it, the write committed,
-- and the row could never be published (kept with last_error, the sweeper failing on every run).
-- publish() now counts the escaped size, so what it accepts fits, and the writer gets the error.
-- Likewise a number with a fraction past a double's range (the relay's JSON reader makes it inf,
-- written as "Infinity", not JSON) is refused; whole numbers of any size stay exact.
--
-- Like every migration: idempotent, PostgreSQL 13+, applied with search_path = pg_catalog,
-- pg_temp; the function keeps SECURITY DEFINER with a pinned search_path, and EXECUTE stays
-- revoked from PUBLIC (CREATE OR REPLACE keeps the grants of 004 and 005).

-- Same as 005 (search_path and SECURITY DEFINER as pinned there), with the escaped size.
CREATE OR REPLACE FUNCTION hookstack.publish(event_type text, tenant_id text, detail jsonb DEFAULT '{}'::jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_event_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
    detail_text text;
    out_of_range jsonb;
    non_ascii text;
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
    -- Python's json reads a fraction as a double: past its range it becomes inf, written as
    -- "Infinity", which is not JSON (PutEvents would refuse it forever). Whole numbers stay exact.
    out_of_range := jsonb_path_query_first(detail,
        'strict $.** ? (@.type() == "number" && @.floor() != @ && (@ > 1.7976931348623157e308 || @ < -1.7976931348623157e308))');
    IF out_of_range IS NOT NULL THEN
        RAISE EXCEPTION 'hookstack.publish: detail has a number with a fraction outside the range of a double (about ±1.8e308), which the relay cannot send as JSON: %...',
            left(out_of_range::text, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    detail_text := detail::text;
    detail_bytes := octet_length(detail_text);
    IF detail_bytes > length(detail_text) OR strpos(detail_text, chr(127)) > 0 THEN
        -- Non-ASCII characters and DEL: measured as the relay's JSON writes them, \uXXXX (6 bytes),
        -- or a surrogate pair (12 bytes) beyond U+FFFF, instead of their 1-4 bytes of UTF-8.
        non_ascii := regexp_replace(detail_text, '[\x01-\x7e]+', '', 'g');
        detail_bytes := detail_bytes - octet_length(non_ascii) + 6 * length(non_ascii)
            + 6 * length(regexp_replace(non_ascii, '[^\U00010000-\U0010ffff]+', '', 'g'));
    END IF;
    IF detail_bytes > hookstack.max_detail_bytes() THEN
        RAISE EXCEPTION 'hookstack.publish: detail is % bytes as JSON (non-ASCII characters escaped as the relay sends them); at most % fit in an EventBridge event (store large data elsewhere and publish a reference)',
            detail_bytes, hookstack.max_detail_bytes()
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    INSERT INTO hookstack.outbox (event_id, tenant_id, event_type, detail, txid)
    VALUES (new_event_id, publish.tenant_id, publish.event_type, publish.detail, pg_current_xact_id()::text::bigint);
    RETURN new_event_id;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hookstack FROM PUBLIC;
