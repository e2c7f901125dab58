import contextlib
import io
import re
from pathlib import Path

import pytest

from agent.settings import Settings, env_name, flag_name, load_settings
from knowledge.errors import RagchatError


def test_defaults() -> None:
    s = load_settings()
    assert (s.ollama_host, s.chat_model, s.temperature) == ("http://localhost:11434", "llama3.1:8b", 0.0)
    assert (s.embedding_backend, s.embedding_model, s.embedding) == (
        "ollama",
        "nomic-embed-text",
        "ollama/nomic-embed-text",
    )
    assert (s.chunk_size, s.chunk_overlap, s.k, s.num_ctx) == (800, 50, 4, 8192)
    assert (s.retrieval_mode, s.keyword_weight, s.min_score) == ("hybrid", 0.5, None)  # chosen in README's eval section
    assert (s.docs_dir, s.home) == (Path("rag_data"), Path(".ragchat"))


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box:11434")
    monkeypatch.setenv("RAGCHAT_K", "6")
    monkeypatch.setenv("RAGCHAT_CHAT_MODEL", "qwen3:8b")
    s = load_settings()
    assert (s.ollama_host, s.k, s.chat_model) == ("http://gpu-box:11434", 6, "qwen3:8b")


def test_explicit_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box:11434")
    monkeypatch.setenv("RAGCHAT_K", "6")
    monkeypatch.setenv("RAGCHAT_KEYWORD_WEIGHT", "0.9")
    s = load_settings(ollama_host="http://other:1234", k=2, chat_model=None, keyword_weight=0.25)
    assert (s.ollama_host, s.k, s.chat_model, s.keyword_weight) == ("http://other:1234", 2, "llama3.1:8b", 0.25)


def test_local_backend_has_its_own_default_model() -> None:
    assert load_settings(embedding_backend="nomic-local").embedding == "nomic-local/nomic-embed-text-v1.5"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("http://localhost:11434/", "http://localhost:11434"),
        ("https://ollama.example", "https://ollama.example"),
        (":56789", "http://127.0.0.1:56789"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("example.com/ollama/", "http://example.com:11434/ollama"),
        ("gpu-box", "http://gpu-box:11434"),
    ],
)
def test_ollama_host_is_read_like_ollama_reads_it(given: str, expected: str) -> None:
    assert load_settings(ollama_host=given).ollama_host == expected


def test_invalid_environment_value_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGCHAT_K", "many")
    with pytest.raises(RagchatError, match=r"^Invalid setting k \(RAGCHAT_K\): Input should be a valid integer"):
        load_settings()


def test_overlap_must_be_smaller_than_chunk_size() -> None:
    with pytest.raises(RagchatError, match="chunk_overlap \\(500\\) must be below chunk_size \\(500\\)"):
        load_settings(chunk_size=500, chunk_overlap=500)


# -- one definition per setting: flag, environment variable and README row come from the field ----------------
EXAMPLES: dict[str, tuple[str, object]] = {
    "ollama_host": ("gpu-box:5000", "http://gpu-box:5000"),
    "chat_model": ("qwen3:8b", "qwen3:8b"),
    "temperature": ("0.7", 0.7),
    "num_ctx": ("16384", 16384),
    "num_predict": ("512", 512),
    "top_k": ("40", 40),
    "top_p": ("0.9", 0.9),
    "system_prompt": ("Answer in French.", "Answer in French."),
    "min_score": ("0.4", 0.4),
    "timeout": ("30", 30.0),
    "verify_answers": ("true", True),
    "memory": ("true", True),
    "embedding_backend": ("nomic-local", "nomic-local"),
    "embedding_model": ("mxbai-embed-large", "mxbai-embed-large"),
    "chunk_size": ("800", 800),
    "chunk_overlap": ("100", 100),
    "k": ("6", 6),
    "retrieval_mode": ("keyword", "keyword"),
    "keyword_weight": ("0.3", 0.3),
    "docs_dir": ("notes", Path("notes")),
    "home": ("state", Path("state")),
    "database_url": (
        "postgresql://ragchat:secret@db.example/ragchat",
        "postgresql://ragchat:secret@db.example/ragchat",
    ),
}
"""A value other than the default for every setting: as typed, and as the settings hold it."""


def test_every_setting_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(Settings.model_fields)


def test_every_setting_is_a_flag_of_every_command() -> None:
    from ui.cli import build_parser, settings_overrides

    for command in ("ask", "ingest", "sources", "search", "chat", "web", "threads", "eval", "graph", "forget"):
        argv = [command]
        for name, (typed, _) in EXAMPLES.items():
            argv += [flag_name(name)] if Settings.model_fields[name].annotation is bool else [flag_name(name), typed]
        argv += {"ask": ["q"], "search": ["q"], "forget": ["f.md"], "eval": ["questions.jsonl"]}.get(command, [])
        given = settings_overrides(build_parser().parse_args(argv))
        assert given.keys() == EXAMPLES.keys(), command
        settings = load_settings(**given)
        assert {name: getattr(settings, name) for name in EXAMPLES} == {n: v for n, (_, v) in EXAMPLES.items()}


def test_every_setting_is_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, (typed, _) in EXAMPLES.items():
        monkeypatch.setenv(env_name(name), typed)
    settings = load_settings()
    assert {name: getattr(settings, name) for name in EXAMPLES} == {n: v for n, (_, v) in EXAMPLES.items()}


def test_the_readme_settings_table_lists_every_setting_and_no_other() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE)
    assert rows == [env_name(name) for name in Settings.model_fields]


def ask_help() -> str:
    from ui.cli import main

    with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:
        main(["ask", "--help"])
    return out.getvalue()


def test_each_flag_says_its_variable_and_default() -> None:
    text = " ".join(ask_help().split())
    assert "--keyword-weight KEYWORD_WEIGHT Keyword search's share of the hybrid ranking" in text
    assert "(RAGCHAT_KEYWORD_WEIGHT, default 0.5)" in text
    assert "--top-k TOP_K" in text and "(RAGCHAT_TOP_K, default unset)" in text
    assert "--verify Let the model check each answer against its sources (RAGCHAT_VERIFY_ANSWERS, default off)" in text


def test_the_page_form_takes_bounds_choices_and_help_from_the_settings_model(env: Settings) -> None:
    from tests.test_ui import start, view

    page = view(start(), "Settings")
    k = page.number_input[0]
    assert (k.min, k.max) == (1, 50)
    assert k.help == "How many chunks are retrieved per question. Environment variable: `RAGCHAT_K`."
    assert page.radio[0].options == ["hybrid", "vector", "keyword"] and page.radio[0].help.endswith(
        "Environment variable: `RAGCHAT_RETRIEVAL_MODE`."
    )
    assert [(s.min, s.max) for s in page.slider] == [(0.0, 2.0), (0.0, 1.0)]
