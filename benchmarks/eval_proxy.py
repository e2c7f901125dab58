"""Run ragchat's evaluation on the sample documents without Ollama: two embedders, rewriters that behave or not.

No Ollama or nomic weights can be downloaded on the development machines, so the fake
Ollama server of the test suite answers instead, with one of two embedders:

* ``hash``: the fake's hashed bag of words (no meaning at all: "car" is not "automobile");
* ``wordllama``: WordLlama's static token embeddings (256-d), whose weights ship inside its
  wheel (``pip install -e '.[bench]'``) — a small embedder that knows some meaning.

and a follow-up rewriter that either behaves (answers each follow-up with the ideal standalone
question the evaluation file gives) or always refuses ("I couldn't find this in your documents.").

    python benchmarks/eval_proxy.py --matrix             # both embedders × both rewriters: one table
    python benchmarks/eval_proxy.py --embedder wordllama --rewriter good --sweep   # the real `ragchat eval`

Neither embedder is nomic-embed-text: their cosines are on other scales, which is what the
calibrated evidence threshold is for. Keyword figures are real BM25.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from tests.fake_ollama import TASK_PREFIX, FakeOllama, rewrite_request  # noqa: E402

QUESTIONS = ROOT / "rag_data" / "eval.jsonl"
logging.getLogger("httpx").setLevel(logging.WARNING)
REFUSAL = "I couldn't find this in your documents."


def wordllama_embedder() -> Callable[[list[str]], list[list[float]]]:
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


def start_fake(embedder: str, rewriter: str) -> FakeOllama:
    """Start the fake Ollama with ``embedder`` and a rewrite step that behaves as ``rewriter`` says."""
    fake = (
        FakeOllama(embedder=wordllama_embedder(), dimension=256).start()
        if embedder == "wordllama"
        else FakeOllama().start()
    )
    ideal = ideal_rewrites()

    def rewrite(body: dict[str, Any]) -> str | None:
        if not rewrite_request(body):
            return None
        if rewriter == "refuses":
            return REFUSAL
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        # the message being rewritten is the follow-up that appears last in the prompt
        latest = max(ideal, key=lambda question: prompt.rfind(question))
        return ideal[latest] if prompt.rfind(latest) >= 0 else ""

    fake.respond(rewrite)
    return fake


def ideal_rewrites() -> dict[str, str]:
    """Return each follow-up of the evaluation file with its ideal standalone rewrite."""
    from agent.evaluation import load_questions

    return {q.question: q.standalone for q in load_questions(QUESTIONS) if q.turn and q.standalone}


def matrix() -> int:
    """Evaluate every embedder × rewriter on the sample documents; print one table."""
    from tqdm import tqdm

    from agent.assistant import Assistant
    from agent.evaluation import evaluate, evidence_floor, load_questions, summarise
    from agent.settings import load_settings

    questions = load_questions(QUESTIONS)
    rows = []
    for embedder in ("hash", "wordllama"):
        for rewriter in ("good", "refuses"):
            fake = start_fake(embedder, rewriter)
            try:
                with tempfile.TemporaryDirectory(prefix="ragchat-proxy-") as home:
                    settings = load_settings(ollama_host=fake.url, home=home, docs_dir=ROOT / "rag_data")
                    assistant = Assistant(settings)
                    assistant.ensure_index()
                    with tqdm(total=len(questions), desc=f"{embedder}, {rewriter}", unit="q", file=sys.stderr) as bar:
                        results = evaluate(assistant, questions, on_question=lambda _, bar=bar: bar.update())
                    calibrated = evidence_floor(assistant)
                    assistant.close()
            finally:
                fake.stop()
            for mode in ("keyword", "vector", "hybrid"):
                recall = {r["questions"]: r for r in summarise(results) if r["mode"] == mode}
                bar = calibrated if mode != "keyword" else float("inf")
                rows.append(
                    [
                        embedder if mode != "keyword" else "(none)",
                        rewriter,
                        mode,
                        *(f"{recall[group]['recall@5']:.2f}" for group in ("standalone", "follow-up",
                                                                            "follow-up, ideal rewrite")),
                        "-" if mode == "keyword" else f"{calibrated:.2f}",
                        refusals(results, mode, bar),
                        "-" if mode == "keyword" else refusals(results, mode, 0.5),
                    ]
                )  # fmt: skip
    header = ["embedder", "rewriter", "mode", "standalone R@5", "follow-up R@5", "ideal rewrite R@5",
              "calibrated min_score", "refused: answerable / near miss / off-topic",
              "same at a fixed 0.5"]  # fmt: skip
    print(f"{len(questions)} questions from {QUESTIONS.relative_to(ROOT)}; top 5; refusals before the model, top 4")
    print(tabulate(rows, header, tablefmt="github"))
    return 0


def refusals(results: list[Any], mode: str, min_score: float) -> str:
    """Return the shares of answerable, near-miss and off-topic questions refused before the model is asked."""
    from agent.evaluation import abstention_summary

    def share(members: list[Any]) -> str:
        summary = abstention_summary(members, mode, min_score) or {}
        key = "refused_answerable" if members and members[0].answerable else "refused_unanswerable"
        return f"{summary.get(key, 0):.0%}"

    answerable = [r for r in results if r.answerable and r.kind != "collection"]
    near = [r for r in results if not r.answerable and r.kind != "unanswerable-off"]
    off = [r for r in results if r.kind == "unanswerable-off"]
    return " / ".join(share(group) for group in (answerable, near, off))


def main(argv: list[str]) -> int:
    """Index rag_data/ in a temporary folder through the fake server, then run `ragchat eval` (or the matrix)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", action="store_true", help="every embedder × rewriter, one table")
    parser.add_argument("--embedder", choices=("hash", "wordllama"), default="wordllama")
    parser.add_argument("--rewriter", choices=("good", "refuses"), default="good")
    args, rest = parser.parse_known_args(argv)
    if args.matrix:
        return matrix()
    from ui.cli import main as ragchat

    fake = start_fake(args.embedder, args.rewriter)
    try:
        with tempfile.TemporaryDirectory(prefix="ragchat-proxy-") as home:
            os.environ.update(OLLAMA_HOST=fake.url, RAGCHAT_HOME=home, RAGCHAT_DOCS_DIR=str(ROOT / "rag_data"))
            print(f"Embedder: {args.embedder} behind the fake Ollama server; rewriter: {args.rewriter}.\n")
            if ragchat(["ingest"]) != 0:
                return 1
            return ragchat(["eval", str(QUESTIONS), *rest])
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
