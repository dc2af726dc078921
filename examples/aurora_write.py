"""An Aurora (PostgreSQL) write that becomes a webhook: the outbox, from the application's side.

    python examples/aurora_write.py --state-file .sandbox/examples.json --tenant acme

Once, as the owner of a table: ``hookstack.emit_events`` makes every committed insert, update and
delete of it an event (``order.created`` / ``.updated`` / ``.deleted``, ``detail`` = the row in
camelCase, ``tenantId`` from the tenant column). The event leaves only if the transaction commits
(rolled back: nothing is sent), with ``eventId`` = the outbox row id. The application role needs
``GRANT hookstack_publisher TO app;`` (docs/aurora.md). Then the application just writes.

Locally the DSN comes from the state file (``postgres_dsn``); on AWS connect to the cluster as usual.
"""

from __future__ import annotations

import argparse
import json
import sys

import psycopg

SETUP = """
CREATE TABLE IF NOT EXISTS example_orders (
    order_id    bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    total       integer NOT NULL,
    card_number text
);
-- prefix 'order', tenant column 'tenant_id'; card_number never leaves the database.
SELECT hookstack.emit_events('public.example_orders', 'order', 'tenant_id', '{}', ARRAY['card_number']);
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", default=".sandbox/examples.json")
    parser.add_argument("--dsn", help="default: the sandbox's postgres_dsn")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--total", type=int, default=120)
    args = parser.parse_args(argv)
    dsn = args.dsn
    if not dsn:
        with open(args.state_file, encoding="utf-8") as file:
            dsn = json.load(file)["postgres_dsn"]
    with psycopg.connect(dsn) as connection:
        connection.execute(SETUP)
        connection.commit()
        # The application's write: one transaction; the event is published after the commit.
        row = connection.execute(
            "INSERT INTO example_orders (tenant_id, total, card_number) VALUES (%s, %s, %s) RETURNING order_id",
            (args.tenant, args.total, "4111111111111111"),
        ).fetchone()
        connection.commit()
    assert row is not None
    print(json.dumps({"inserted": {"orderId": row[0], "tenantId": args.tenant, "total": args.total}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
