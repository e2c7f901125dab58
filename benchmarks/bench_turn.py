"""Benchmark what ragchat itself costs around the model, beside a seed-style pipeline.

Prints one Markdown table: for 1k, 10k and 100k chunks, the turn overhead — time from
submitting a question to the first streamed token, with the fake Ollama server (from the
tests) answering instantly over real HTTP, so what remains is the app's own work:
rewrite routing, embedding the query, hybrid search, prompt building, checkpointing — and
the same for a seed-style pipeline (LangChain ``InMemoryVectorStore``, retrieve → generate,
no persistence) measured in the same run. Then ingest throughput with an instant embedder,
embedding requests per 1,000 chunks, and peak memory (tracemalloc) of each.

    python benchmarks/bench_turn.py                 # a few minutes
    python benchmarks/bench_turn.py --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.vectorstores import InMemoryVectorStore
from langgraph.graph import END, START, StateGraph

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.assistant import Assistant  # noqa: E402
from agent.chat_model import make_chat_model  # noqa: E402
from agent.settings import load_settings  # noqa: E402
from knowledge.embeddings import make_embeddings  # noqa: E402
from knowledge.engine import IndexInfo  # noqa: E402
from tests.fake_ollama import FakeOllama  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import fill, measured_ingest  # noqa: E402

DIMENSION = 768
TURNS = 30
WORDS = [f"w{n}" for n in range(5000)]


class CountingEmbeddings(Embeddings):
    """Instant random vectors; counts requests (calls to ``embed_documents``)."""

    def __init__(self) -> None:
        self.requests = 0
        self.rng = np.random.default_rng(3)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Return random vectors, one request per call."""
        self.requests += 1
        return self.rng.standard_normal((len(texts), DIMENSION), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Return a random vector."""
        return self.embed_documents([text])[0]


def corpus(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Return ``n`` random unit vectors, texts and metadata."""
    vectors = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    texts = [" ".join(WORDS[i] for i in row) for row in rng.integers(0, len(WORDS), size=(n, 60))]
    metadatas = [{"source": f"file{i // 20}.txt", "article": 1, "title": f"File {i // 20}", "start_index": 0}
                 for i in range(n)]  # fmt: skip
    return vectors, texts, metadatas


def first_token_ms(stream: Any) -> float:
    """Milliseconds until the first piece of ``stream``; the stream is then drained."""
    start = time.perf_counter()
    iterator = iter(stream)
    next(iterator, None)
    elapsed = (time.perf_counter() - start) * 1000
    for _ in iterator:
        pass
    return elapsed


def percentiles(values: list[float]) -> tuple[float, float]:
    """Return p50 and p95."""
    values = sorted(values)
    return statistics.median(values), values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def ours(n: int, fake: FakeOllama, rng: np.random.Generator) -> dict[str, float]:
    """Turn overhead of the real Assistant (SQLite threads, hybrid search) over a saved index of ``n`` chunks."""
    vectors, texts, metadatas = corpus(n, rng)
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(ollama_host=fake.url, home=home, docs_dir=home)
        fill(home, IndexInfo(settings.embedding, DIMENSION), vectors, texts, metadatas)
        del vectors
        gc.collect()
        app = Assistant(settings)
        questions = [" ".join(rng.choice(WORDS, 5)) for _ in range(TURNS)]
        times = [first_token_ms(app.ask(q, f"bench-{i % 3}")) for i, q in enumerate(questions)]
        del app
        gc.collect()
        tracemalloc.start()  # memory in a second pass: tracemalloc slows every allocation
        app = Assistant(settings)
        for i, q in enumerate(questions[:5]):
            first_token_ms(app.ask(q, f"memory-{i}"))
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    p50, p95 = percentiles(times[3:])  # the first turns warm up connections and caches
    return {"p50": p50, "p95": p95, "peak_mb": peak}


class SeedState(TypedDict, total=False):
    """The seed's state: a question, its documents, the answer."""

    question: str
    documents: list[Document]
    answer: str


def seed(n: int, fake: FakeOllama, rng: np.random.Generator) -> dict[str, float]:
    """Turn overhead of a seed-style pipeline: InMemoryVectorStore, retrieve -> generate, no persistence."""
    vectors, texts, metadatas = corpus(n, rng)
    settings = load_settings(ollama_host=fake.url)
    embeddings = make_embeddings("ollama", "nomic-embed-text", fake.url)
    llm = make_chat_model(settings)
    gc.collect()
    tracemalloc.start()  # this store's memory is what matters; its timing is seconds at 100k anyway
    store = InMemoryVectorStore(embeddings)
    store.store = {f"c{i}": {"id": f"c{i}", "vector": vectors[i].tolist(), "text": texts[i], "metadata": metadatas[i]}
                   for i in range(n)}  # fmt: skip
    del vectors

    def retrieve(state: SeedState) -> SeedState:
        return {"documents": store.similarity_search(state["question"], k=4)}

    def generate(state: SeedState) -> SeedState:
        context = "\n\n".join(d.page_content for d in state["documents"])
        reply = llm.invoke([SystemMessage(f"Answer from:\n{context}"), HumanMessage(state["question"])])
        return {"answer": str(reply.content)}

    builder = StateGraph(SeedState)
    builder.add_node("retrieve", retrieve)
    builder.add_node("generate", generate)
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "generate")
    builder.add_edge("generate", END)
    graph = builder.compile()

    def stream(question: str) -> Any:
        for chunk, meta in graph.stream({"question": question}, stream_mode="messages"):
            if meta.get("langgraph_node") == "generate" and chunk.content:
                yield chunk.content

    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    turns = TURNS if n <= 10_000 else 6
    times = [first_token_ms(stream(" ".join(rng.choice(WORDS, 5)))) for _ in range(turns)]
    p50, p95 = percentiles(times[1:])
    return {"p50": p50, "p95": p95, "peak_mb": peak}


def ingest_costs(chunks: int = 20_000) -> dict[str, float]:
    """Chunks per second and embedding requests per 1,000 chunks, ours and the seed's, instant embedder."""
    rng = np.random.default_rng(4)
    ranks = np.minimum(rng.zipf(1.3, size=(chunks, 60)), len(WORDS)) - 1  # a natural, Zipf-shaped vocabulary
    texts = [" ".join(WORDS[r] for r in row) for row in ranks]
    with tempfile.TemporaryDirectory() as tmp:
        docs, home = Path(tmp) / "docs", Path(tmp) / "home"
        docs.mkdir()
        for f in range(chunks // 20):  # 20 chunks of ~480 characters per file
            (docs / f"n{f:05d}.txt").write_text("\n\n".join(texts[f * 20 : (f + 1) * 20]))
        embedder = CountingEmbeddings()
        ours_s, ours_peak, made = measured_ingest(docs, home, embedder)
        seed_embedder = CountingEmbeddings()
        gc.collect()
        tracemalloc.start()
        start = time.perf_counter()
        InMemoryVectorStore(seed_embedder).add_documents([Document(t) for t in texts])
        seed_s = time.perf_counter() - start
        seed_peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return {
        "chunks": made,
        "ours_rate": made / ours_s,
        "ours_requests": embedder.requests * 1000 / made,
        "ours_peak": ours_peak,
        "seed_rate": chunks / seed_s,
        "seed_requests": seed_embedder.requests * 1000 / chunks,
        "seed_peak": seed_peak,
    }


def main() -> None:
    """Run everything and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    fake = FakeOllama().start()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}\n")  # fmt: skip
    print("| chunks | turn overhead p50 / p95 ms (ragchat) | seed-style p50 / p95 ms | peak MB (ragchat / seed) |")
    print("|---:|---:|---:|---:|")
    try:
        for n in args.sizes:
            print(f"measuring {n:,} chunks…", file=sys.stderr, flush=True)
            a, b = ours(n, fake, rng), seed(n, fake, rng)
            print(f"| {n:,} | {a['p50']:.1f} / {a['p95']:.1f} | {b['p50']:.1f} / {b['p95']:.1f} "
                  f"| {a['peak_mb']:.0f} / {b['peak_mb']:.0f} |", flush=True)  # fmt: skip
        costs = ingest_costs()
    finally:
        fake.stop()
    print(f"\nIngest with an instant embedder ({costs['chunks']:,} chunks): "
          f"ragchat {costs['ours_rate']:,.0f} chunks/s, "
          f"{costs['ours_requests']:.1f} embedding requests per 1,000 chunks, peak {costs['ours_peak']:.0f} MB "
          f"(reading, splitting, hashing, saving, BM25 included); seed-style InMemoryVectorStore.add_documents "
          f"{costs['seed_rate']:,.0f} chunks/s, {costs['seed_requests']:.1f} requests per 1,000 chunks, peak "
          f"{costs['seed_peak']:.0f} MB (no reading, splitting or saving).")  # fmt: skip


if __name__ == "__main__":
    main()
