"""Migrations stay true: an empty database migrated step by step ends with the very schema a
fresh ``create_all`` of today's table definitions gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from bot.store import desk_schema, digest_schema, schema  # noqa: F401  (they register tables)
from bot.store.migrations import MIGRATIONS, migrate


def _shape(engine: Engine) -> dict[str, Any]:
    """Tables, columns (type, nullability, key), indexes and unique constraints, comparable."""
    found = inspect(engine)
    shape: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        if table == "schema_version":
            continue
        columns = {
            c["name"]: (str(c["type"]).split("(")[0].upper(), c["nullable"])
            for c in found.get_columns(table)
        }
        shape[table] = {
            "columns": columns,
            "primary_key": tuple(found.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in found.get_foreign_keys(table)
            ),
        }
        if engine.dialect.name == "sqlite":
            # AUTOINCREMENT is invisible to the inspector but decides whether ids come back.
            with engine.connect() as conn:
                sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = :t"),
                                  {"t": table})
            shape[table]["autoincrement"] = "AUTOINCREMENT" in (sql or "").upper()
    return shape


def _engines(store_url: str, tmp_path: Any) -> tuple[Engine, Engine]:
    if store_url.startswith("sqlite"):
        return (create_engine(f"sqlite:///{tmp_path / 'migrated.db'}"),
                create_engine(f"sqlite:///{tmp_path / 'fresh.db'}"))
    # Two schemas: the store_url fixture's for the migrated one, a second for the fresh one.
    fresh_schema = "fresh_" + store_url.rsplit("%3D", 1)[1]
    base = create_engine(store_url)
    with base.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{fresh_schema}"'))
    base.dispose()
    fresh_url = store_url.rsplit("%3D", 1)[0] + "%3D" + fresh_schema
    return create_engine(store_url), create_engine(fresh_url)


def test_every_migration_from_an_empty_store_gives_todays_schema(
    store_url: str, tmp_path: Any
) -> None:
    migrated, fresh = _engines(store_url, tmp_path)
    try:
        assert migrate(migrated) == sorted(n for n, _ in MIGRATIONS)
        schema.metadata.create_all(fresh)
        assert _shape(migrated) == _shape(fresh)
    finally:
        if fresh.dialect.name == "postgresql":
            fresh_schema = fresh.url.query["options"].rsplit("=", 1)[1]
            with fresh.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{fresh_schema}" CASCADE'))
        migrated.dispose()
        fresh.dispose()


def test_migration_numbers_are_unique_and_ascending_in_the_list() -> None:
    numbers = [n for n, _ in MIGRATIONS]
    assert numbers == sorted(set(numbers)), "append each migration once, with a new number"


@pytest.mark.parametrize("number", [n for n, _ in MIGRATIONS])
def test_no_migration_builds_tables_from_todays_definitions(number: int) -> None:
    import inspect as pyinspect

    step = dict(MIGRATIONS)[number]
    source = pyinspect.getsource(step)
    assert "schema." not in source and "digest_schema" not in source, (
        f"migration {number} reads today's table definitions; freeze its DDL in the step"
    )
