-- A local stand-in for Aurora's aws_commons / aws_lambda extensions (NOT a migration: never
-- applied on Aurora, where CREATE EXTENSION aws_lambda CASCADE provides the real thing).
--
-- Same function signatures as the real extension (AWS "Lambda function and parameter reference":
-- four aws_lambda.invoke overloads, text or aws_commons._lambda_function_arn_1 function name, json
-- or jsonb payload). Like the real call, an invocation is NOT undone by a rollback: it is recorded
-- through a dblink connection to the same database, in its own transaction, in
-- aws_lambda_double.invocations, and announced with NOTIFY aws_lambda_invocations (payload
-- {"id": <invocation id>, "functionName": ...}) from that connection, so a listener (the local
-- sandbox) sees it at once and can run the relay handler with the recorded payload.
--
-- Failures on demand:  UPDATE aws_lambda_double.behaviour SET fail_next = 3;   (the next 3 calls fail)
--                      UPDATE aws_lambda_double.behaviour SET fail_all = true; (every call fails)
-- A failing call raises an ERROR (as the real one does when Lambda cannot be reached) and is
-- recorded with succeeded = false.
--
-- dblink connects with aws_lambda_double.dsn(): the setting aws_lambda_double.dsn when set
-- (ALTER DATABASE ... SET aws_lambda_double.dsn = 'host=... port=... dbname=... user=...'),
-- otherwise this database on this server through the first unix socket directory (or 127.0.0.1).
-- Install (superuser, once per database):  psql "$DSN" -v ON_ERROR_STOP=1 -f sql/local/aws_lambda_double.sql

CREATE EXTENSION IF NOT EXISTS dblink;
CREATE SCHEMA IF NOT EXISTS aws_commons;
CREATE SCHEMA IF NOT EXISTS aws_lambda;
CREATE SCHEMA IF NOT EXISTS aws_lambda_double;

DO $$
BEGIN
    IF to_regtype('aws_commons._lambda_function_arn_1') IS NULL THEN
        CREATE TYPE aws_commons._lambda_function_arn_1 AS (function_name text, region text);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS aws_lambda_double.invocations (
    id              bigserial PRIMARY KEY,
    invoked_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    function_name   text NOT NULL,
    region          text,
    invocation_type text NOT NULL,
    payload         jsonb,
    succeeded       boolean NOT NULL,
    caller_pid      integer
);

CREATE TABLE IF NOT EXISTS aws_lambda_double.behaviour (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    fail_next     integer NOT NULL DEFAULT 0,
    fail_all      boolean NOT NULL DEFAULT false,
    error_message text NOT NULL DEFAULT 'Lambda could not be reached (aws_lambda test double)'
);
INSERT INTO aws_lambda_double.behaviour DEFAULT VALUES ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION aws_commons.create_lambda_function_arn(function_name text, region text DEFAULT NULL)
RETURNS aws_commons._lambda_function_arn_1
LANGUAGE sql IMMUTABLE AS $$ SELECT ROW($1, $2)::aws_commons._lambda_function_arn_1 $$;

CREATE OR REPLACE FUNCTION aws_lambda_double.dsn() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('aws_lambda_double.dsn', true), ''),
        format('dbname=%s port=%s user=%s host=%s',
               quote_literal(current_database()), current_setting('port'), quote_literal(current_user),
               coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''), '127.0.0.1')))
$$;

-- Runs in the dblink session (its own transaction): decide failure, record, notify.
CREATE OR REPLACE FUNCTION aws_lambda_double.log_invocation(
    function_name text, region text, invocation_type text, payload jsonb, caller_pid integer)
RETURNS TABLE (invocation_id bigint, succeeded boolean, error_message text)
LANGUAGE plpgsql AS $$
DECLARE
    b aws_lambda_double.behaviour%ROWTYPE;
    failing boolean;
    new_id bigint;
BEGIN
    SELECT * INTO b FROM aws_lambda_double.behaviour WHERE singleton FOR UPDATE;
    failing := b.fail_all OR b.fail_next > 0;
    IF b.fail_next > 0 THEN
        UPDATE aws_lambda_double.behaviour SET fail_next = b.fail_next - 1 WHERE singleton;
    END IF;
    INSERT INTO aws_lambda_double.invocations (function_name, region, invocation_type, payload, succeeded, caller_pid)
    VALUES ($1, $2, $3, $4, NOT failing, $5)
    RETURNING id INTO new_id;
    IF NOT failing THEN
        PERFORM pg_notify('aws_lambda_invocations', json_build_object('id', new_id, 'functionName', $1)::text);
    END IF;
    RETURN QUERY SELECT new_id, NOT failing, CASE WHEN failing THEN b.error_message END;
END
$$;

-- Callers may pin their search_path (hookstack.dispatch does): find dblink wherever it is installed.
CREATE OR REPLACE FUNCTION aws_lambda_double.invoke(
    function_name text, payload jsonb, region text, invocation_type text)
RETURNS integer
LANGUAGE plpgsql SET search_path = aws_lambda_double, public, pg_catalog AS $$
DECLARE
    result record;
BEGIN
    IF invocation_type IS NULL OR invocation_type NOT IN ('RequestResponse', 'Event', 'DryRun') THEN
        RAISE EXCEPTION 'aws_lambda.invoke: invocation_type must be RequestResponse, Event or DryRun; got %', invocation_type;
    END IF;
    IF NOT ('aws_lambda_double' = ANY (coalesce(dblink_get_connections(), '{}'::text[]))) THEN
        PERFORM dblink_connect('aws_lambda_double', aws_lambda_double.dsn());
        PERFORM dblink_exec('aws_lambda_double', 'SET synchronous_commit = off');
    END IF;
    SELECT * INTO result FROM dblink('aws_lambda_double', format(
        'SELECT * FROM aws_lambda_double.log_invocation(%L, %L, %L, %L::jsonb, %s)',
        $1, $3, $4, $2::text, pg_backend_pid()))
        AS t(invocation_id bigint, succeeded boolean, error_message text);
    IF NOT result.succeeded THEN
        RAISE EXCEPTION '%', result.error_message USING ERRCODE = 'XX000';
    END IF;
    RETURN CASE invocation_type WHEN 'Event' THEN 202 WHEN 'DryRun' THEN 204 ELSE 200 END;
END
$$;

-- The four overloads of the real extension. The IN and OUT parameters share the name "payload"
-- (allowed by PostgreSQL), so the bodies use positional references.
CREATE OR REPLACE FUNCTION aws_lambda.invoke(
    IN function_name text, IN payload json, IN region text DEFAULT NULL,
    IN invocation_type text DEFAULT 'RequestResponse', IN log_type text DEFAULT 'None',
    IN context json DEFAULT NULL, IN qualifier varchar(128) DEFAULT NULL,
    OUT status_code int, OUT payload json, OUT executed_version text, OUT log_result text)
LANGUAGE sql AS $$
    SELECT aws_lambda_double.invoke($1, $2::jsonb, $3, $4), NULL::json, '$LATEST'::text, NULL::text
$$;

CREATE OR REPLACE FUNCTION aws_lambda.invoke(
    IN function_name aws_commons._lambda_function_arn_1, IN payload json,
    IN invocation_type text DEFAULT 'RequestResponse', IN log_type text DEFAULT 'None',
    IN context json DEFAULT NULL, IN qualifier varchar(128) DEFAULT NULL,
    OUT status_code int, OUT payload json, OUT executed_version text, OUT log_result text)
LANGUAGE sql AS $$
    SELECT aws_lambda_double.invoke(($1).function_name, $2::jsonb, ($1).region, $3), NULL::json, '$LATEST'::text, NULL::text
$$;

CREATE OR REPLACE FUNCTION aws_lambda.invoke(
    IN function_name text, IN payload jsonb, IN region text DEFAULT NULL,
    IN invocation_type text DEFAULT 'RequestResponse', IN log_type text DEFAULT 'None',
    IN context jsonb DEFAULT NULL, IN qualifier varchar(128) DEFAULT NULL,
    OUT status_code int, OUT payload jsonb, OUT executed_version text, OUT log_result text)
LANGUAGE sql AS $$
    SELECT aws_lambda_double.invoke($1, $2, $3, $4), NULL::jsonb, '$LATEST'::text, NULL::text
$$;

CREATE OR REPLACE FUNCTION aws_lambda.invoke(
    IN function_name aws_commons._lambda_function_arn_1, IN payload jsonb,
    IN invocation_type text DEFAULT 'RequestResponse', IN log_type text DEFAULT 'None',
    IN context jsonb DEFAULT NULL, IN qualifier varchar(128) DEFAULT NULL,
    OUT status_code int, OUT payload jsonb, OUT executed_version text, OUT log_result text)
LANGUAGE sql AS $$
    SELECT aws_lambda_double.invoke(($1).function_name, $2, ($1).region, $3), NULL::jsonb, '$LATEST'::text, NULL::text
$$;
