"""The one exception type the user sees, and the translation of Ollama failures into it.

Every failure a user can cause or fix (Ollama not running, a model not pulled, a bad
folder, an empty question) becomes a :class:`RagchatError` whose message is one sentence
that says what to do. The CLI prints it, the web page shows it; neither shows tracebacks.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path


class RagchatError(Exception):
    """A failure with a one-line message written for the user."""


class EmbedderMismatch(RagchatError):
    """The index is readable but was built by another embedding model."""


class IndexDamaged(RagchatError):
    """The index on disk cannot be used as it is (unreadable or inconsistent); a rebuild sets it aside."""


def counted(count: int, noun: str) -> str:
    """Return ``count`` and ``noun``, plural unless there is exactly one (the messages' one way to count).

    >>> counted(1, "file"), counted(0, "chunk"), counted(2, "thread")
    ('1 file', '0 chunks', '2 threads')
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# numpy writes arrays with fwrite() and reports a short write without an errno; on a
# regular file a short write means the disk (or the user's quota) is full.
SHORT_WRITE = re.compile(r"^\d+ requested and \d+ written$")


def explain_os_error(exc: BaseException, folder: str | Path) -> RagchatError | None:
    """Return the one-line error for a disk fault met while using ``folder``, or ``None``.

    A full disk, a read-only file system and a permission refusal are faults of the
    place, not of what is stored there: the caller must keep everything as it is (never
    set anything aside) and show this message. ``folder`` is the folder the message
    names (the data folder, the documents folder). Returns ``None`` for any other
    exception, so callers can re-raise it unchanged.

    >>> str(explain_os_error(OSError(28, "No space left on device"), "/data"))
    'The disk holding /data is full — free space and try again.'
    """
    if isinstance(exc, RagchatError):
        return exc
    if not isinstance(exc, OSError):
        return None
    if exc.errno in DISK_FULL_ERRNOS or (exc.errno is None and SHORT_WRITE.match(str(exc))):
        return RagchatError(f"The disk holding {folder} is full — free space and try again.")
    if exc.errno == errno.EROFS:
        return RagchatError(f"{folder} is read-only — make it writable, or use another folder, and try again.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return RagchatError(
            f"ragchat is not allowed to use {folder} (permission denied) — give your user access to it, "
            "or use another folder, and try again."
        )
    return None


# SQLite's primary result codes (the low byte of an extended code).
SQLITE_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN = 13, 10, 8, 14
FULL_BELOW = 1 << 20
"""A disk I/O error on a disk with less than this free is a full disk (SQLite reports it as I/O)."""


def sqlite_code(exc: BaseException) -> int:
    """Return SQLite's primary result code carried by ``exc`` (0 when it has none)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def sqlite_disk_fault(exc: BaseException, folder: Path, database: Path | None = None) -> RagchatError | None:
    """Return the one-line error when a SQLite failure is a full, read-only or forbidden disk, else ``None``.

    The message names ``folder`` when it refuses writes, else the ``database`` file itself when that does.
    """
    code = sqlite_code(exc)
    if code == SQLITE_FULL or (code == SQLITE_IOERR and _free_bytes(folder) < FULL_BELOW):
        return explain_os_error(OSError(errno.ENOSPC, "disk full"), folder)
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_IOERR) or "readonly" in str(exc):
        return write_refusal(folder) or (write_refusal(database) if database is not None else None)
    return None


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return FULL_BELOW


def write_refusal(folder: str | Path) -> RagchatError | None:
    """Return the one-line error if ``folder`` refuses writes (read-only file system, no permission), else ``None``.

    Lets a caller refuse before it changes anything, rather than half-way through.
    """
    if os.access(folder, os.W_OK):
        return None
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    code = errno.EROFS if read_only else errno.EACCES
    return explain_os_error(OSError(code, os.strerror(code)), folder)


def model_not_pulled(model: str) -> RagchatError:
    """Return the error for a model Ollama does not have."""
    return RagchatError(f"The model {model} is not available in Ollama — run `ollama pull {model}`.")


def explain_ollama_error(exc: BaseException, *, base_url: str, model: str) -> RagchatError | None:
    """Return the user-facing error for an exception raised while talking to Ollama.

    Returns ``None`` when ``exc`` is not an Ollama/transport failure, so callers can
    re-raise genuine bugs unchanged.
    """
    if isinstance(exc, RagchatError):
        return exc
    import httpx  # here, not at the top: a command that never talks to Ollama need not load it

    if isinstance(exc, ConnectionError | httpx.ConnectError | httpx.ConnectTimeout):
        # ollama-python raises the builtin ConnectionError for plain requests but lets
        # httpx.ConnectError escape from streaming ones, so both land here.
        return RagchatError(
            f"Cannot reach Ollama at {base_url} — start it with `ollama serve` (or point OLLAMA_HOST at it)."
        )
    if isinstance(exc, httpx.TimeoutException):
        return RagchatError(
            f"Ollama did not answer in time (it may still be loading {model}) — try again, or allow longer with "
            "RAGCHAT_TIMEOUT."
        )
    if isinstance(exc, json.JSONDecodeError):
        return RagchatError(
            f"Ollama at {base_url} sent a reply ragchat could not read — check that OLLAMA_HOST points at Ollama, "
            "then try again."
        )
    # Imported here: importing ollama reads OLLAMA_HOST, which the settings must check first.
    from ollama import ResponseError

    if isinstance(exc, ResponseError):
        if exc.status_code == 404:
            return model_not_pulled(model)
        return RagchatError(f"Ollama could not run {model}: {exc.error} (HTTP {exc.status_code}).")
    if isinstance(exc, httpx.TransportError):
        return RagchatError(
            f"Lost the connection to Ollama at {base_url} ({type(exc).__name__}) — "
            "check that `ollama serve` is still running and try again."
        )
    return None


def without_password(url: str) -> str:
    """Return a database URL (or ``key=value`` string) with its password shown as ``***``, for messages.

    >>> without_password("postgresql://ann:s3cret@db.example:5433/notes?sslmode=require&password=x")
    'postgresql://ann:***@db.example:5433/notes?sslmode=require&password=***'
    >>> without_password("postgresql://ann@db.example/notes")
    'postgresql://ann@db.example/notes'
    >>> without_password("host=db user=ann password=s3cret dbname=notes")
    'host=db user=ann password=*** dbname=notes'
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if "://" in url:
        try:
            parts = urlsplit(url)
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            if parts.password is None and all(k != "password" for k, _ in pairs):
                return url  # nothing to hide: shown as written
            netloc = parts.netloc
            if parts.password is not None:
                user, _, host = netloc.rpartition("@")
                netloc = f"{user.partition(':')[0]}:***@{host}"
            query = urlencode(
                [(k, "***" if k == "password" else v) for k, v in pairs],
                safe="/*",
            )
            return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        except ValueError:
            return url.split("://", 1)[0] + "://…"
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)


def postgres_reason(exc: BaseException) -> str:
    r"""Return the heart of a Postgres or libpq message on one line, without libpq's preambles.

    >>> postgres_reason(Exception('connection failed: connection to server at "127.0.0.1", port 5 failed: '
    ...                           'Connection refused\n\tIs the server running on that host?'))
    'Connection refused'
    >>> postgres_reason(Exception('connection failed: connection to server at "db", port 5432 failed: FATAL:  '
    ...                           'password authentication failed for user "ragchat"'))
    'password authentication failed for user "ragchat"'
    >>> postgres_reason(Exception("Multiple connection attempts failed. All failures were:\n- host: 'db', "
    ...                           "port: 5432: connection timeout expired\n- host: 'db2': refused"))
    "host: 'db', port: 5432: connection timeout expired"
    """
    lines = [line.strip().lstrip("- ").strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else "")
    line = re.sub(r"^(FATAL|ERROR):\s+", "", re.sub(r"^.*\bfailed: ", "", line))
    return line or type(exc).__name__


def postgres_unreachable(exc: BaseException) -> bool:
    """Whether a psycopg error is a connection that failed or was lost (no answer, shutdown, login refused)."""
    state = getattr(exc, "sqlstate", None) or ""
    connection_lost = type(exc).__name__ == "OperationalError" and not state
    return connection_lost or state.startswith(("08", "57P0", "28", "3D000"))


def database_unreachable(url: str, exc: BaseException) -> RagchatError:
    """Return the one-line error for a Postgres at ``url`` that cannot be reached (its password never shown)."""
    return RagchatError(
        f"Cannot reach the database at {without_password(url)} ({postgres_reason(exc)}) — check "
        "RAGCHAT_DATABASE_URL and that Postgres is running."
    )
