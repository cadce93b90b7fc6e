"""The PostgreSQL server the tests use: ``$PYXMTP_TEST_POSTGRES`` (default: the local server's ``test`` database,
as on the development and CI machines). Each test gets a schema of its own, dropped afterwards. Without a
reachable server the PostgreSQL variants are skipped, saying why, unless ``PYXMTP_REQUIRE_POSTGRES=1`` (CI) makes
that a failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

DSN = os.environ.get("PYXMTP_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres"]
_reachable: str | None = None  # "" once connected, else why not


async def _check() -> str:
    global _reachable
    if _reachable is None:
        try:
            import asyncpg

            conn = await asyncpg.connect(DSN, timeout=5)
            await conn.close()
            _reachable = ""
        except Exception as exc:  # whatever the reason (no driver, no server, no database), say it and skip
            _reachable = f"PostgreSQL at {DSN} is not usable: {exc}"
    return _reachable


@asynccontextmanager
async def postgres_schemas() -> AsyncIterator[Callable[[], str]]:
    """Makes fresh schema names (the store creates them); all of them are dropped afterwards."""
    import asyncpg

    reason = await _check()
    if reason:
        if os.environ.get("PYXMTP_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    base = f"pyxmtp_test_{uuid.uuid4().hex[:12]}"
    made: list[str] = []

    def new() -> str:
        made.append(f"{base}_{len(made)}")
        return made[-1]

    try:
        yield new
    finally:
        conn = await asyncpg.connect(DSN, timeout=5)
        try:
            for schema in made:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


#: NodeConfig fields that put a node's data where its data_dir says: the SQLite store needs none; for PostgreSQL
#: each distinct data_dir of a test gets a schema of its own.
BackendSettings = Callable[[Path], dict[str, object]]


@asynccontextmanager
async def backend_settings(backend: str) -> AsyncIterator[BackendSettings]:
    if backend == "sqlite":
        yield lambda data_dir: {}
        return
    async with postgres_schemas() as new_schema:
        schemas: dict[Path, str] = {}

        def settings(data_dir: Path) -> dict[str, object]:
            if data_dir not in schemas:
                schemas[data_dir] = new_schema()
            return {"database_url": DSN, "database_schema": schemas[data_dir]}

        yield settings


def cli_flags(fields: dict[str, object]) -> list[str]:
    """The ``pyxmtp node`` flags for NodeConfig fields from :func:`backend_settings`."""
    flags: list[str] = []
    if fields.get("database_url"):
        flags += [
            "--database-url",
            str(fields["database_url"]),
            "--database-schema",
            str(fields["database_schema"]),
        ]
    return flags
