"""Run ``ragchat eval --sweep`` on the sample documents with a small real embedding model.

No Ollama or nomic weights can be downloaded on the development machines, and the fake
server's hashed bag-of-words vectors cannot tell "car" from "automobile". WordLlama ships
its weights inside its wheel (static token embeddings, 256 dimensions), so this script puts
it behind the fake Ollama server's ``/api/embed`` and runs the real command against it:
vector and hybrid figures then come from an embedder that knows some meaning.

It is a stand-in. Its cosines are on another scale than nomic-embed-text's, so the
``min_score`` rows do not transfer; chunking and fusion comparisons are the useful part.
The rewrite of follow-ups is still the fake server's echo.

    pip install -e '.[bench]'
    python benchmarks/eval_proxy.py                       # about a minute
    python benchmarks/eval_proxy.py --chunk-sizes 500     # any `ragchat eval` flags
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_ollama import TASK_PREFIX, FakeOllama  # noqa: E402
from ui.cli import main as ragchat  # noqa: E402


def wordllama_embedder():  # noqa: ANN201 (wordllama is an optional extra)
    """Return a function embedding texts with WordLlama's bundled weights (no download)."""
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        sys.exit("This benchmark needs WordLlama: pip install -e '.[bench]'")
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)

    def embed(texts: list[str]) -> list[list[float]]:
        # nomic's task prefixes mean nothing to WordLlama: drop them, as the fake server does
        return model.embed([TASK_PREFIX.sub("", text) for text in texts], norm=True).tolist()

    return embed


def main(argv: list[str]) -> int:
    """Index rag_data/ in a temporary folder through the proxy, then evaluate and sweep."""
    fake = FakeOllama(embedder=wordllama_embedder(), dimension=256).start()
    try:
        with tempfile.TemporaryDirectory(prefix="ragchat-proxy-") as home:
            os.environ.update(OLLAMA_HOST=fake.url, RAGCHAT_HOME=home, RAGCHAT_DOCS_DIR=str(ROOT / "rag_data"))
            print("Embedder: WordLlama l2_supercat (256-d) behind the fake Ollama server — a stand-in for nomic.\n")
            if ragchat(["ingest"]) != 0:
                return 1
            return ragchat(["eval", str(ROOT / "rag_data" / "eval.jsonl"), "--sweep", *argv])
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
