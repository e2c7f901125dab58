"""A real Postgres with pgvector for the tests: the one RAGCHAT_TEST_DATABASE_URL names, else one pgserver starts.

pgserver (PyPI) ships Postgres 16 with pgvector and starts it from a folder in about a second,
listening on a Unix socket in that folder only. Each pytest process (each xdist worker) starts
its own and stops it at the end; every test gets a database of its own, dropped after it.

The server's folder is not under pytest's temporary folder: as root, pgserver runs Postgres as
another user, and any pytest starting meanwhile makes that folder private again (mode 700),
which would cut the running server off from its own files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from filelock import FileLock
from psycopg import sql
from psycopg.conninfo import make_conninfo

TEST_DATABASE_URL = os.environ.get("RAGCHAT_TEST_DATABASE_URL", "")
"""Read at import: each test's environment is emptied of RAGCHAT_* variables."""
FAST = ("fsync = off", "synchronous_commit = off", "full_page_writes = off")
"""Durability the tests do not need, on the server they start (never on one they are given)."""


@contextmanager
def server() -> Iterator[str]:
    """Yield a superuser URL of a Postgres server: the given one, or one started here and removed after."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        return
    folder = Path(tempfile.mkdtemp(prefix="ragchat-test-postgres-"))
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset (pgserver copes)
        warnings.simplefilter("ignore")
        import pgserver

        # As root, pgserver adds a system user to run Postgres: two workers must not both try.
        with FileLock(Path(tempfile.gettempdir()) / "ragchat-test-postgres.lock"):
            started = pgserver.get_server(folder / "data", cleanup_mode="delete")
    url = started.get_uri()
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            for setting in FAST:
                admin.execute(f"ALTER SYSTEM SET {setting}")
            admin.execute("SELECT pg_reload_conf()")
        yield url
    finally:
        started.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Yield the URL of a new, empty database on the server, dropped afterwards (connections and all)."""
    name = f"ragchat_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_url(url: str, name: str) -> str:
    """Return ``url`` naming the database ``name`` instead (a URL stays a URL, as users write them)."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    return make_conninfo(url, dbname=name)
