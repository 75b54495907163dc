"""The headers of extension/sql/functions/*.sql: one public function a file, its header's fixed
fields all there, and its Roles line what the grants (declared in grants.sql) really give."""

from __future__ import annotations

import re

import psycopg
import pytest

from conftest import REPO

FUNCTIONS = sorted((REPO / "extension" / "sql" / "functions").glob("*.sql"))
FIELDS = ("Returns", "Errors", "Reads", "Writes", "Roles")
GROUPS = ("producer", "consumer", "admin")


def _header(path) -> dict[str, str]:
    """The header's fields, continuation lines joined."""
    lines = path.read_text().split("CREATE FUNCTION", 1)[0].splitlines()
    fields: dict[str, str] = {}
    last = None
    for line in lines:
        match = re.fullmatch(r"--   (Returns|Errors|Reads|Writes|Roles)\s+(.*)", line)
        if match:
            last = match[1]
            fields[last] = match[2]
        elif last and line.startswith("--            "):
            fields[last] += " " + line.strip("- ")
    return fields


def test_one_public_function_a_file_with_every_field():
    assert len(FUNCTIONS) > 30
    for path in FUNCTIONS:
        text = path.read_text()
        assert re.findall(r"^CREATE FUNCTION @extschema@\.(\w+)\(", text, re.MULTILINE) == [path.stem], path.name
        assert text.startswith(f"-- {path.stem}("), path.name
        assert tuple(_header(path)) == FIELDS, path.name


@pytest.mark.parametrize("path", FUNCTIONS, ids=lambda p: p.stem)
def test_the_roles_line_is_what_the_grants_give(dsn, path):
    declared = {group.strip() for group in _header(path)["Roles"].split(",")}
    assert declared <= set(GROUPS), declared
    with psycopg.connect(dsn) as conn:
        granted = {
            group for group in GROUPS
            if conn.execute(
                "SELECT pg_catalog.bool_or(pg_catalog.has_function_privilege(%s, p.oid, 'EXECUTE'))"
                " FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pgqrs'::regnamespace AND p.proname = %s",
                [f"pgqrs_{group}", path.stem]).fetchone()[0]
        }
    assert granted == declared
