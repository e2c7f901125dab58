"""A real Postgres for tests: RAGCHAT_TEST_DATABASE_URL if set, else one started with pgserver; a new database per test.

The server is started once per test process (each xdist worker has its own), on a unix socket only,
and stopped at the end of the session. ``postgres_url`` gives each test a database of its own,
dropped afterwards (closing whatever connections a test left open).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get("RAGCHAT_TEST_DATABASE_URL")  # read at import: each test runs without RAGCHAT_ variables


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a Postgres the tests may create databases in."""
    if ADMIN_URL:
        yield ADMIN_URL
        return
    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set", for pgserver's lock file
        warnings.simplefilter("ignore")
        import pgserver

        # Not under pytest's basetemp: pgserver, run as root, serves it as another user, and pytest keeps that private.
        root = Path(tempfile.mkdtemp(prefix="ragchat-pg-"))
        server = pgserver.get_server(root / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    import psycopg

    name = f"ragchat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
