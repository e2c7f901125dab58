"""Compare the chunking of two revisions side by side: keyword, vector and hybrid recall per chunk size.

For each embedder (WordLlama behind the fake Ollama server, as in ``eval_proxy.py``, and the
fake server's own hashed bag of words) and each splitter (``knowledge/splitter.py`` as it is
at ``--before``, a git revision, and as it is in the work tree), the sample documents are
indexed at each chunk size in a temporary folder and ``rag_data/eval.jsonl`` is searched in
every mode, as ``ragchat eval`` does. Besides R@1/3/5 and MRR@10 it gives two recalls at the
same amount of context: "ctx", within the top k × default size / size chunks (the ``--sweep``
column), and "2k", within the top chunks whose texts add up to at most k × 500 characters
(at least one) — chunks of the new splitter are not all of the nominal size — and the
characters the top k chunks hold on average (what the model reads). With
``--sweep`` it also runs the real ``ragchat eval FILE --sweep`` for each pair.

    pip install -e '.[bench]'
    python benchmarks/compare_chunking.py --before HEAD~1            # a few minutes
    python benchmarks/compare_chunking.py --before main --embedders hash --sizes 500
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import knowledge.ingest  # noqa: E402
from agent.assistant import Assistant  # noqa: E402
from agent.evaluation import evaluate, load_questions  # noqa: E402
from agent.evaluation.run import MODES, first_match  # noqa: E402
from agent.evaluation.tuning import same_context  # noqa: E402
from agent.settings import load_settings  # noqa: E402
from benchmarks.eval_proxy import wordllama_embedder  # noqa: E402
from tests.fake_ollama import FakeOllama  # noqa: E402
from ui.cli import main as ragchat  # noqa: E402

CONTEXT_CHARACTERS = 4 * 500


def splitter_at(revision: str) -> ModuleType:
    """Load ``knowledge/splitter.py`` as it is at a git ``revision`` (a module of its own)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:knowledge/splitter.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="ragchat-splitter-"))
    path = folder / "splitter_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("splitter_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def chunking(split: Callable, size: int, overlap: int, fake: FakeOllama) -> Iterator[Path]:
    """Point ragchat at a fresh temporary folder, splitting with ``split`` at ``size`` / ``overlap``."""
    saved_env, saved_split = dict(os.environ), knowledge.ingest.split_documents
    with tempfile.TemporaryDirectory(prefix="ragchat-chunks-") as home:
        os.environ.update(
            OLLAMA_HOST=fake.url,
            RAGCHAT_HOME=home,
            RAGCHAT_DOCS_DIR=str(ROOT / "rag_data"),
            RAGCHAT_CHUNK_SIZE=str(size),
            RAGCHAT_CHUNK_OVERLAP=str(overlap),
        )
        knowledge.ingest.split_documents = split
        try:
            yield Path(home)
        finally:
            knowledge.ingest.split_documents = saved_split
            os.environ.clear()
            os.environ.update(saved_env)


def measure(questions_path: Path) -> tuple[int, dict[str, dict[str, float]]]:
    """Ingest, then return the chunk count and, per mode, recall at 1/3/5, MRR@10, R@ctx and R@2k."""
    assistant = Assistant(load_settings())
    assistant.ingest()
    index = assistant.require_index()
    s = assistant.settings
    questions = load_questions(questions_path)
    results = evaluate(assistant, questions)
    ctx = same_context(s.k, 500, s.chunk_size)
    table: dict[str, dict[str, float]] = {}
    for mode in MODES:
        ranks, in_2k, read = [], [], []
        for item, result in zip(questions, results, strict=True):
            if not item.answers:
                continue
            ranks.append(result.ranks[mode])
            documents = index.search(result.query, 10, mode, keyword_weight=s.keyword_weight)
            read.append(sum(len(document.page_content) for document in documents[: s.k]))
            budget, fits = 0, 0
            for document in documents:
                budget += len(document.page_content)
                if fits and budget > CONTEXT_CHARACTERS:
                    break
                fits += 1
            in_2k.append(first_match(documents[:fits], item) is not None)
        n = len(ranks)
        row = {f"R@{c}": sum(1 for r in ranks if r and r <= c) / n for c in (1, 3, 5)}
        row["MRR"] = sum(1 / r for r in ranks if r) / n
        row["ctx"] = sum(1 for r in ranks if r and r <= ctx) / n
        row["2k"] = sum(in_2k) / n
        row["read"] = sum(read) / n
        table[mode] = row
    return index.chunk_count, table


def main(argv: list[str]) -> int:
    """Print one table row per embedder, splitter, chunk size and mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD", help="git revision of the splitter to compare with")
    parser.add_argument("--embedders", default="wordllama,hash")
    parser.add_argument("--sizes", default="300,500,800,1200")
    parser.add_argument("--overlap", type=int, default=50)
    parser.add_argument("--questions", type=Path, default=ROOT / "rag_data" / "eval.jsonl")
    parser.add_argument("--sweep", action="store_true", help="also run `ragchat eval FILE --sweep` for each pair")
    args = parser.parse_args(argv)
    splitters = {"before": splitter_at(args.before).split_documents, "after": knowledge.ingest.split_documents}
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"Questions: {args.questions} ({len(load_questions(args.questions))}); overlap {args.overlap}.")
    print(f"ctx: top k x 500 / size chunks; 2k: top chunks within {CONTEXT_CHARACTERS} characters.\n")
    print("| embedder | splitter | size | chunks | mode | R@1 | R@3 | R@5 | MRR@10 | R@ctx | R@2k | chars in top k |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for embedder in args.embedders.split(","):
        fake = FakeOllama(embedder=wordllama_embedder(), dimension=256) if embedder == "wordllama" else FakeOllama()
        fake.start()
        try:
            for size in sizes:
                for name, split in splitters.items():
                    with chunking(split, size, args.overlap, fake), contextlib.redirect_stdout(sys.stderr):
                        chunks, table = measure(args.questions)
                    for mode, row in table.items():
                        figures = " | ".join(f"{row[key]:.2f}" for key in ("R@1", "R@3", "R@5", "MRR", "ctx", "2k"))
                        read = f"{row['read']:,.0f}"
                        print(f"| {embedder} | {name} | {size} | {chunks} | {mode} | {figures} | {read} |", flush=True)
            if args.sweep:
                for name, split in splitters.items():
                    print(f"\n`ragchat eval --sweep`, {embedder}, {name}:\n", flush=True)
                    with chunking(split, 500, args.overlap, fake):
                        if ragchat(["ingest"]) != 0 or ragchat(["eval", str(args.questions), "--sweep"]) != 0:
                            return 1
        finally:
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
