"""Every setting in one typed place, with one precedence: explicit argument > environment > saved > default.

Environment variables are ``RAGCHAT_<NAME>`` (``RAGCHAT_K=6``), except the Ollama address,
which uses Ollama's own ``OLLAMA_HOST``. pydantic-settings does the reading and checking.
Values that would only fail later are refused here, in one line: an address Ollama's own
client cannot parse (the ``ollama`` library reads ``OLLAMA_HOST`` when it is imported, so no
module imports it before the settings are loaded), a timeout that is not a finite number of
seconds, an answer length that leaves no room for a source, a data folder that is a file.
"Saved" are the preferences chosen in the web page (model, temperature, k, retrieval mode,
system prompt), kept in ``<home>/settings.json`` so they survive a restart.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge.errors import RagchatError, without_password

# agent.formatting, knowledge.embeddings and knowledge.index (LangChain, numpy, bm25s) are
# imported where they are used, so `ragchat web` hands over to Streamlit without loading them.


class Settings(BaseSettings):
    """ragchat's configuration. Construct with :func:`load_settings` for friendly errors.

    Each field is defined here once: its type, default, bounds and description make the
    command-line flag and its help (:func:`ui.cli.add_settings_flags`), the environment
    variable (:func:`env_name`) and the page's form; ``json_schema_extra["flag"]`` names a
    flag that is not simply ``--field-name``.
    """

    model_config = SettingsConfigDict(env_prefix="RAGCHAT_", populate_by_name=True, extra="forbid")

    ollama_host: str = Field(
        "http://localhost:11434",
        validation_alias=AliasChoices("ollama_host", "OLLAMA_HOST"),
        description="Ollama's address (Ollama's own variable; 127.0.0.1:11434 works too).",
    )
    chat_model: str = Field(
        "llama3.1:8b", description="Ollama chat model that writes the answers.", json_schema_extra={"flag": "--model"}
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 keeps answers repeatable.")
    num_ctx: int = Field(8192, ge=1024, description="Context window asked of Ollama, in tokens.")
    num_predict: int = Field(1024, ge=16, description="Most tokens an answer may use (reserved in the budget).")
    top_k: int | None = Field(None, ge=1, description="Sample only from the k likeliest tokens (unset: Ollama's).")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling share (unset: Ollama's).")
    system_prompt: str | None = Field(None, description="Replaces the answering rules; the sources are still appended.")
    embedding_backend: Literal["ollama", "nomic-local"] = Field(
        "ollama", description="Where embeddings come from: Ollama, or langchain-nomic running locally."
    )
    embedding_model: str | None = Field(
        None, description="Embedding model; default nomic-embed-text (ollama) or nomic-embed-text-v1.5 (local)."
    )
    chunk_size: int = Field(800, ge=50, description="Largest chunk, in characters; a paragraph that fits is never cut.")
    chunk_overlap: int = Field(
        50, ge=0, description="Most characters neighbouring pieces of a cut paragraph share, in whole sentences."
    )
    k: int = Field(4, ge=1, le=50, description="How many chunks are retrieved per question.")
    retrieval_mode: Literal["hybrid", "vector", "keyword"] = Field(
        "hybrid",
        description="Search by meaning and keywords fused (hybrid), by meaning only, or by keywords only.",
        json_schema_extra={"flag": "--mode"},
    )
    keyword_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Keyword search's share of the hybrid ranking: 0.5 weighs meaning and keywords equally.",
    )
    min_score: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description=(
            "Cosine from which a chunk counts as evidence (unset: calibrated on your documents); with none, "
            "and no keyword match, ragchat abstains."
        ),
    )
    timeout: float = Field(
        120.0, description="Seconds to wait for Ollama to start answering (loading a model can take a while)."
    )
    verify_answers: bool = Field(
        False,
        description="Let the model check each answer against its sources.",
        json_schema_extra={"flag": "--verify"},
    )
    memory: bool = Field(False, description="Keep threads in memory only (they end with the process).")
    docs_dir: Path = Field(
        Path("rag_data"), description="Folder of documents to index.", json_schema_extra={"flag": "--docs"}
    )
    home: Path = Field(Path(".ragchat"), description="Data folder for everything ragchat writes.")
    database_url: str | None = Field(
        None,
        description=(
            "Postgres with pgvector (postgresql://user:password@host/db) holding the knowledge base and the threads, "
            "shared by every ragchat pointed at it (unset: SQLite files in the data folder)."
        ),
    )

    @field_validator("ollama_host")
    @classmethod
    def _normalise_host(cls, value: str) -> str:
        return read_ollama_host(value)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"{without_password(value)!r} — give a postgresql:// URL, e.g. postgresql://ragchat:secret@db.example/ragchat"
            )
        return value.strip()

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
            raise ValueError(
                f"{str(value)!r} — give a number of seconds above 0 and at most {MAX_TIMEOUT} (default 120)"
            )
        return seconds

    @field_validator("home", "docs_dir")
    @classmethod
    def _check_folder(cls, value: Path, info: ValidationInfo) -> Path:
        hint = FOLDER_HINTS[info.field_name or ""]
        for folder in (value, *value.parents):
            if folder.exists():
                if folder.is_dir():
                    break
                if folder == value:
                    raise ValueError(f"{str(value)!r} is a file, not a folder — {hint}")
                raise ValueError(f"{str(value)!r} is inside {str(folder)!r}, which is a file — {hint}")
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise SettingError(
                "chunk_overlap", f"chunk_overlap ({self.chunk_overlap}) must be below chunk_size ({self.chunk_size})"
            )
        # "Workable": the rules, one source of chunk_size characters and the longest allowed
        # question must fit in num_ctx beside the answer, or every prompt would go without sources.
        from agent.formatting import room_for_answer

        room = room_for_answer(self.num_ctx, self.chunk_size, self.system_prompt)
        if room < MIN_NUM_PREDICT:
            custom = bool(self.system_prompt)
            rules, shorten = ("system prompt", ", or shorten the system prompt") if custom else ("rules", "")
            raise SettingError(
                "num_ctx",
                f"{self.num_ctx:,} tokens cannot hold the {rules}, a source of chunk_size ({self.chunk_size}) "
                f"characters and a question — raise RAGCHAT_NUM_CTX or lower RAGCHAT_CHUNK_SIZE{shorten}",
            )
        if self.num_predict > room:
            raise SettingError(
                "num_predict",
                f"{self.num_predict:,} answer tokens leave no room for a source in num_ctx (RAGCHAT_NUM_CTX) "
                f"{self.num_ctx:,} — use at most {room:,}, or raise RAGCHAT_NUM_CTX",
            )
        if self.embedding_model is None:
            from knowledge.embedding_names import DEFAULT_MODELS

            self.embedding_model = DEFAULT_MODELS[self.embedding_backend]
        return self

    @property
    def embedding(self) -> str:
        """Name recorded with the index, e.g. ``ollama/nomic-embed-text``."""
        from knowledge.embedding_names import embedding_name

        return embedding_name(self.embedding_backend, self.embedding_model)

    @property
    def index_path(self) -> Path:
        """The index database (SQLite; the Postgres engine keeps it elsewhere)."""
        return self.home / "knowledge.sqlite"


MAX_TIMEOUT = 86400
"""A day: the longest RAGCHAT_TIMEOUT accepted (``inf`` would make a stalled Ollama hang ragchat for ever)."""

MIN_NUM_PREDICT = 16

FOLDER_HINTS = {
    "home": "point RAGCHAT_HOME at a folder (it is created if missing)",
    "docs_dir": "point RAGCHAT_DOCS_DIR at the folder of your documents",
}

HOST_HINT = "give an address such as http://127.0.0.1:11434 or 127.0.0.1:11434"


class SettingError(ValueError):
    """A check across settings that blames one of them by name (pydantic cannot locate model-level errors)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def read_ollama_host(value: str) -> str:
    """Return ``OLLAMA_HOST`` as a base URL, read as Ollama reads it, or raise ``ValueError`` saying why not.

    A bare host gets ``http://`` and port 11434, a full URL is used as written, and 0.0.0.0
    (listen everywhere) means this machine. Anything Ollama's client would choke on (a port
    that is not a number or not in 1–65535, unmatched IPv6 brackets) is refused, and so are
    other schemes and spaces, which no server address holds.

    >>> read_ollama_host("gpu-box"), read_ollama_host("[::1]:5000")
    ('http://gpu-box:11434', 'http://[::1]:5000')
    """
    given = value
    value = value.strip().rstrip("/")
    if not value:
        return "http://localhost:11434"
    scheme, separator, rest = value.partition("://")
    if not separator:
        scheme, rest = "http", value
    if scheme.lower() not in ("http", "https"):
        raise ValueError(f"{given!r}: only http:// and https:// are supported — {HOST_HINT}")
    if any(ch.isspace() for ch in rest):
        raise ValueError(f"{given!r}: a host name cannot hold spaces — {HOST_HINT}")
    try:
        url = urlsplit(f"{scheme}://{rest}")
        port = url.port
    except ValueError as exc:
        if "IPv6" in str(exc):
            reason = "the brackets around an IPv6 address do not match"
        elif "out of range" in str(exc):
            reason = f"port {url.netloc.rpartition(':')[2]} is outside 1–65535"
        elif "Port could not be cast" in str(exc):
            reason = "the port is not a number"
        else:
            reason = "it is not a server address"
        raise ValueError(f"{given!r}: {reason} — {HOST_HINT}") from None
    if separator:
        return value.replace("://0.0.0.0", "://127.0.0.1", 1)
    host = url.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal needs its brackets back
    return f"http://{host}:{port or 11434}{url.path}".replace("://0.0.0.0", "://127.0.0.1", 1)


def env_name(name: str) -> str:
    """Return the environment variable that sets setting ``name``.

    >>> env_name("k"), env_name("ollama_host")
    ('RAGCHAT_K', 'OLLAMA_HOST')
    """
    return "OLLAMA_HOST" if name == "ollama_host" else f"RAGCHAT_{name.upper()}"


def flag_name(name: str) -> str:
    """Return the command-line flag that sets setting ``name``.

    >>> flag_name("top_k"), flag_name("chat_model")
    ('--top-k', '--model')
    """
    extra = Settings.model_fields[name].json_schema_extra
    given = extra.get("flag") if isinstance(extra, dict) else None
    return str(given) if given else "--" + name.replace("_", "-")


def bounds(name: str) -> tuple[float | None, float | None]:
    """Return the lowest and highest value setting ``name`` accepts (``None`` where unbounded).

    >>> bounds("temperature"), bounds("num_ctx")
    ((0.0, 2.0), (1024, None))
    """
    low = high = None
    for rule in Settings.model_fields[name].metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", getattr(rule, "lt", high))
    return low, high


def choices(name: str) -> list[str]:
    """Return the values setting ``name`` may take, for a setting with a fixed list of them.

    >>> choices("retrieval_mode")
    ['hybrid', 'vector', 'keyword']
    """
    return list(get_args(Settings.model_fields[name].annotation))


PREFERENCES_FILE = "settings.json"
PREFERENCE_FIELDS = ("chat_model", "temperature", "k", "retrieval_mode", "keyword_weight", "system_prompt")


def load_settings(**overrides: object) -> Settings:
    """Build :class:`Settings` from ``overrides`` (``None`` values ignored), environment, saved preferences, defaults.

    Raises:
        RagchatError: naming the first invalid setting and what was wrong with it.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    if "OLLAMA_HOST" in os.environ:
        # The ollama library parses the variable itself on import, even when an argument overrides it.
        try:
            read_ollama_host(os.environ["OLLAMA_HOST"])
        except ValueError as exc:
            raise RagchatError(f"Invalid setting ollama_host (OLLAMA_HOST): {exc}.") from None
    settings = _validated(given)
    saved = {
        key: value
        for key, value in read_preferences(settings.home).items()
        if key in PREFERENCE_FIELDS and key not in settings.model_fields_set
    }
    return _validated({**saved, **given}) if saved else settings


def read_preferences(home: Path) -> dict[str, object]:
    """Return the preferences saved under ``home`` (empty if none, or if the file is unreadable)."""
    try:
        saved = json.loads((home / PREFERENCES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def save_preferences(settings: Settings, **changes: object) -> Settings:
    """Validate ``changes`` to preference fields, save them under the data folder, return the new settings.

    Raises:
        RagchatError: for an unknown preference or an invalid value (nothing is saved then).
    """
    unknown = sorted(set(changes) - set(PREFERENCE_FIELDS))
    if unknown:
        raise RagchatError(f"{', '.join(unknown)} cannot be saved from the page — set it in the environment.")
    from knowledge.atomic import write_atomic

    updated = _validated({**settings.model_dump(), **changes})
    preferences = {**read_preferences(settings.home), **{k: getattr(updated, k) for k in changes}}
    settings.home.mkdir(parents=True, exist_ok=True)
    write_atomic(settings.home / PREFERENCES_FILE, json.dumps(preferences, indent=2).encode())
    return updated


def _validated(values: dict[str, object]) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        name = getattr(cause, "name", None) or ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(cause) if error["type"] == "value_error" and cause is not None else error["msg"]
        env = env_name(name) if name in Settings.model_fields else f"RAGCHAT_{name.upper()}"
        raise RagchatError(f"Invalid setting {name} ({env}): {message}.") from None
