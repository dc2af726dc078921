"""Static checks that the SQL runs where it is deployed.

- Aurora PostgreSQL 13 is the oldest engine the config allows; the tests run on PostgreSQL 18.
  Syntax and functions newer than 13 are refused here (the list names the version that added each).
- The RDS Data API binds ``:name`` parameters; statements the migration function sends must not
  contain a colon followed by a letter outside ``::`` casts, so nothing can be mistaken for one.
"""

from __future__ import annotations

import re

import pytest

from functions.migrate import read_migrations, split_statements
from tests.sql.conftest import SQL_DIR

NEWER_THAN_13 = {
    r"\bMERGE\s+INTO\b": "MERGE (15)",
    r"\bNULLS\s+NOT\s+DISTINCT\b": "NULLS NOT DISTINCT (15)",
    r"\bCREATE\s+OR\s+REPLACE\s+TRIGGER\b": "CREATE OR REPLACE TRIGGER (14)",
    r"\bBEGIN\s+ATOMIC\b": "SQL-standard function bodies (14)",
    r"\brange_agg\s*\(": "range_agg (14)",
    r"\bstring_to_table\s*\(": "string_to_table (14)",
    r"\bdate_bin\s*\(": "date_bin (14)",
    r"\bregexp_(count|instr|like|substr)\s*\(": "regexp_count/instr/like/substr (15)",
    r"\bany_value\s*\(": "any_value (16)",
    r"\bjson_(table|exists|query|value|serialize|scalar|array|object)\s*\(": "SQL/JSON functions (16/17)",
    r"\bIS\s+(NOT\s+)?JSON\b": "IS JSON (16)",
    r"\btrim_array\s*\(": "trim_array (14)",
    r"\bunistr\s*\(": "unistr (14)",
    r"\bsystem_user\b": "SYSTEM_USER (16)",
    r"\bpg_input_is_valid\s*\(": "pg_input_is_valid (16)",
    r"\bGENERATED\s+ALWAYS\s+AS\s*\(.*\)\s*VIRTUAL\b": "virtual generated columns (18)",
    r"\buuidv7\s*\(": "uuidv7 (18)",
    r"\bRETURNING\s+(OLD|NEW)\b": "RETURNING OLD/NEW (18)",
    r"\bSECURITY_INVOKER\b": "security_invoker views (15)",
}


def sql_files():
    return sorted(SQL_DIR.glob("*.sql")) + sorted((SQL_DIR / "local").glob("*.sql"))


@pytest.mark.parametrize("path", sql_files(), ids=lambda p: p.name)
def test_sql_uses_nothing_newer_than_postgresql_13(path):
    text = re.sub(r"--[^\n]*", "", path.read_text())  # comments may mention newer features
    found = [
        name or pattern
        for pattern, name in NEWER_THAN_13.items()
        if re.search(pattern, text, re.IGNORECASE | re.DOTALL)
    ]
    assert found == []


def test_the_compatibility_check_catches_a_newer_feature():
    text = "CREATE OR REPLACE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()"
    assert any(re.search(p, text, re.IGNORECASE) for p in NEWER_THAN_13)


@pytest.mark.parametrize("migration", read_migrations(SQL_DIR), ids=lambda m: m.version)
def test_no_statement_looks_like_it_has_a_data_api_parameter(migration):
    for statement in split_statements(migration.sql):
        without_casts = statement.replace("::", "  ")
        assert not re.search(r":[A-Za-z_]", without_casts), statement[:200]
