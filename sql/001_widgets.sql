-- 001: the seed's application schema (tenant, widget) and the aws_lambda extension.
--
-- Kept compatible with the seed (aws-samples/amazon-aurora-eventbridge-webhooks, db/schema.sql):
-- same tables, same column names, tenant 1 exists, `CALL create_widget(1, 'fooWidget')` works
-- (the procedure itself is defined in 003, once the outbox exists).
--
-- Runs on Aurora PostgreSQL 13+ (no newer syntax). Applied by functions/migrate.py, or by hand:
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -1 -f sql/001_widgets.sql   (see docs/aurora.md)

CREATE TABLE IF NOT EXISTS public.tenant (
    tenantId int PRIMARY KEY GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS public.widget (
    widgetId int PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    tenantId int NOT NULL,
    CONSTRAINT fk_widget_tenant FOREIGN KEY (tenantId) REFERENCES public.tenant (tenantId),
    widget_name varchar(255) NOT NULL,
    creation_date timestamp DEFAULT CURRENT_DATE
);

-- The seed inserts one tenant so that create_widget(1, ...) has a tenant to belong to.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.tenant) THEN
        INSERT INTO public.tenant DEFAULT VALUES;
    END IF;
END
$$;

-- On Aurora the real extension (it needs rds_superuser, which the master user has). Locally
-- there is no such extension: sql/local/aws_lambda_double.sql installs schemas with the same
-- function signatures first, and this block accepts them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'aws_lambda') THEN
        CREATE EXTENSION IF NOT EXISTS aws_lambda CASCADE;
    ELSIF NOT EXISTS (
        SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'aws_lambda' AND p.proname = 'invoke'
    ) THEN
        RAISE EXCEPTION 'aws_lambda.invoke is not available in this database'
            USING HINT = 'On Aurora PostgreSQL run CREATE EXTENSION aws_lambda CASCADE (needs rds_superuser); '
                         'locally install sql/local/aws_lambda_double.sql first.';
    END IF;
END
$$;
