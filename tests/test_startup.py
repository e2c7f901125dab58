"""Commands load only what they use: no model client, agent or page stack before it is needed.

Timings are in ``benchmarks/bench_startup.py``; here each command runs in a fresh interpreter
and the test looks at which heavy packages it imported, which does not depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.assistant import Assistant
from agent.settings import Settings

SHOW_IMPORTS = """
import sys
from ui.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("\\nIMPORTED", *sorted(sys.modules))
"""
ROOT = Path(__file__).resolve().parents[1]
AGENT_AND_CLIENTS = {"langgraph", "langchain_ollama", "ollama", "streamlit", "bs4", "pypdf", "docx"}
"""The chat agent, the Ollama client, the page, and the readers of PDF, Word and HTML files."""
LANGCHAIN_MACHINERY = {"httpx", "langchain_core.runnables", "langchain_core.messages", "langchain_core.vectorstores"}
"""What an embedding client, a chat message or LangChain's VectorStore class bring in: ~1 s together."""


def run(*argv: str) -> tuple[str, set[str]]:
    """Run ``ragchat argv`` in a fresh interpreter; return its output and the packages and modules it imported."""
    command = [sys.executable, "-c", SHOW_IMPORTS, *argv]  # from ROOT: this checkout's ui.cli, not an installed one
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    out, _, imported = done.stdout.rpartition("\nIMPORTED ")
    modules = set(imported.split())
    return out, modules | {name.split(".")[0] for name in modules}


def test_help_imports_no_langchain_numpy_or_pydantic() -> None:
    out, imported = run("--help")
    assert "usage: ragchat" in out
    assert imported & {"langchain_core", "numpy", "pydantic", *AGENT_AND_CLIENTS} == set()


def test_sources_imports_neither_the_agent_nor_a_model_client(env: Settings, assistant: Assistant) -> None:
    out, imported = run("sources")
    assert "2 files, 4 chunks, embeddings ollama/nomic-embed-text" in out
    assert imported & (AGENT_AND_CLIENTS | LANGCHAIN_MACHINERY) == set()


def test_keyword_search_imports_neither_the_agent_nor_a_model_client(env: Settings, assistant: Assistant) -> None:
    out, imported = run("search", "--mode", "keyword", "Quillmarsh", "bell")
    assert out.startswith("Top 1 (keyword search):\n  [1] harbour.md")
    assert imported & (AGENT_AND_CLIENTS | LANGCHAIN_MACHINERY) == set()
