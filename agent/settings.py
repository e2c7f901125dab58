"""Every setting in one typed place, with one precedence: explicit argument > environment > saved > default.

Environment variables are ``RAGCHAT_<NAME>`` (``RAGCHAT_K=6``), except the Ollama address,
which uses Ollama's own ``OLLAMA_HOST``. pydantic-settings does the reading and checking.
"Saved" are the preferences chosen in the web page (model, temperature, k, retrieval mode,
system prompt), kept in ``<home>/settings.json`` so they survive a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge.embeddings import DEFAULT_MODELS, embedding_name
from knowledge.errors import RagchatError
from knowledge.index import write_atomic


class Settings(BaseSettings):
    """ragchat's configuration. Construct with :func:`load_settings` for friendly errors."""

    model_config = SettingsConfigDict(env_prefix="RAGCHAT_", populate_by_name=True, extra="forbid")

    ollama_host: str = Field(
        "http://localhost:11434",
        validation_alias=AliasChoices("ollama_host", "OLLAMA_HOST"),
        description="Base URL of the Ollama server (Ollama's own OLLAMA_HOST variable).",
    )
    chat_model: str = Field("llama3.1:8b", description="Ollama chat model that writes the answers.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 keeps answers repeatable.")
    num_ctx: int = Field(8192, ge=1024, description="Context window asked of Ollama, in tokens.")
    num_predict: int = Field(1024, ge=16, description="Most tokens an answer may use (reserved in the budget).")
    top_k: int | None = Field(
        None, ge=1, description="Sample only from the k likeliest tokens (Ollama's default if unset)."
    )
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling share (Ollama's default if unset).")
    system_prompt: str | None = Field(None, description="Replaces the answering rules; the sources are still appended.")
    min_score: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Cosine from which a chunk counts as evidence; with none, and no keyword match, ragchat abstains.",
    )
    timeout: float = Field(
        120.0, gt=0, description="Seconds to wait for Ollama to start answering (loading a model can take a while)."
    )
    verify_answers: bool = Field(False, description="Let the model check each answer against its sources.")
    memory: bool = Field(False, description="Keep threads in memory only (they end with the process).")
    embedding_backend: Literal["ollama", "nomic-local"] = Field(
        "ollama", description="Where embeddings come from: Ollama, or langchain-nomic running locally."
    )
    embedding_model: str | None = Field(
        None, description="Embedding model; default nomic-embed-text (ollama) or nomic-embed-text-v1.5 (local)."
    )
    chunk_size: int = Field(500, ge=50, description="Largest chunk, in characters.")
    chunk_overlap: int = Field(50, ge=0, description="Characters shared by neighbouring chunks.")
    k: int = Field(4, ge=1, le=50, description="How many chunks are retrieved per question.")
    retrieval_mode: Literal["hybrid", "vector", "keyword"] = Field(
        "hybrid", description="Search by meaning and keywords fused (hybrid), by meaning only, or by keywords only."
    )
    keyword_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Keyword search's share of the hybrid ranking: 0.5 weighs meaning and keywords equally.",
    )
    docs_dir: Path = Field(Path("rag_data"), description="Folder of documents to index.")
    home: Path = Field(Path(".ragchat"), description="Data folder for everything ragchat writes.")

    @field_validator("ollama_host")
    @classmethod
    def _normalise_host(cls, value: str) -> str:
        # Read OLLAMA_HOST as Ollama does: a bare host gets http:// and port 11434,
        # a full URL is used as written, and 0.0.0.0 (listen everywhere) means this machine.
        value = value.strip().rstrip("/")
        if not value:
            return "http://localhost:11434"
        if "://" not in value:
            url = urlsplit(f"http://{value}")
            value = f"http://{url.hostname or '127.0.0.1'}:{url.port or 11434}{url.path}"
            if url.hostname and ":" in url.hostname:  # IPv6 literal needs its brackets back
                value = f"http://[{url.hostname}]:{url.port or 11434}{url.path}"
        return value.replace("://0.0.0.0", "://127.0.0.1", 1)

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be below chunk_size ({self.chunk_size})")
        if self.embedding_model is None:
            self.embedding_model = DEFAULT_MODELS[self.embedding_backend]
        return self

    @property
    def embedding(self) -> str:
        """Name recorded with the index, e.g. ``ollama/nomic-embed-text``."""
        return embedding_name(self.embedding_backend, self.embedding_model)

    @property
    def index_dir(self) -> Path:
        """Where the index lives."""
        return self.home / "index"


PREFERENCES_FILE = "settings.json"
PREFERENCE_FIELDS = ("chat_model", "temperature", "k", "retrieval_mode", "keyword_weight", "system_prompt")


def load_settings(**overrides: object) -> Settings:
    """Build :class:`Settings` from ``overrides`` (``None`` values ignored), environment, saved preferences, defaults.

    Raises:
        RagchatError: naming the first invalid setting and what was wrong with it.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
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
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        env = "OLLAMA_HOST" if name == "ollama_host" else f"RAGCHAT_{name.upper()}"
        raise RagchatError(f"Invalid setting {name} ({env}): {error['msg']}.") from None
