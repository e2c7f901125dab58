"""Benchmark the knowledge index against LangChain's InMemoryVectorStore, side by side.

For 1k, 10k and 100k synthetic chunks of 768-d vectors it prints one Markdown table:
query latency p50/p95 (vector, keyword, hybrid), load time of the saved index, and the
memory the loaded index holds (tracemalloc), each beside the same figure for
``InMemoryVectorStore``. Then it times re-ingesting an unchanged 1,000-file corpus.

No model is involved: vectors are random unit vectors and an "instant" embedder returns
precomputed ones, so the figures are the app's own cost. Run from the repository root:

    python benchmarks/bench_index.py            # all sizes, a few minutes
    python benchmarks/bench_index.py --sizes 1000 10000
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

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.documents import Document  # noqa: E402

from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.engine import FileChunks, FileRecord, IndexInfo  # noqa: E402
from knowledge.index import KnowledgeIndex  # noqa: E402
from knowledge.sqlite_engine import SQLiteEngine  # noqa: E402

DIMENSION = 768
QUERIES = 50
WORDS = [f"w{n}" for n in range(20_000)]


class InstantEmbeddings(Embeddings):
    """Returns a queue of prepared vectors for queries and hashed random ones for documents."""

    def __init__(self, dimension: int = DIMENSION) -> None:
        self.dimension = dimension
        self.queries: list[list[float]] = []
        self.rng = np.random.default_rng(1)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Return random vectors (ingest cost without a model)."""
        return self.rng.standard_normal((len(texts), self.dimension), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Return the next prepared query vector."""
        return self.queries.pop() if self.queries else self.rng.standard_normal(self.dimension).tolist()


def corpus(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str], list[dict]]:
    """Return unit vectors, ~60-word texts (Zipf-distributed words) and metadata for ``n`` chunks."""
    vectors = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranks = np.minimum(rng.zipf(1.3, size=(n, 60)), len(WORDS)) - 1
    texts = [" ".join(WORDS[r] for r in row) for row in ranks]
    metadatas = [
        {"source": f"file{i // 20}.txt", "article": 1, "title": f"File {i // 20}", "start_index": (i % 20) * 450}
        for i in range(n)
    ]
    return vectors, texts, metadatas


def fill(home: str | Path, info: IndexInfo, vectors: np.ndarray, texts: list[str], metadatas: list[dict]) -> None:
    """Store the chunks in a new SQLite index under ``home``, one commit per file as an ingest makes them."""
    engine = SQLiteEngine(Path(home))
    engine.start(info)
    by_file: dict[str, list[int]] = {}
    for row, meta in enumerate(metadatas):
        by_file.setdefault(meta["source"], []).append(row)
    for source, rows in by_file.items():
        chunks = [Document(page_content=texts[r], metadata=metadatas[r], id=f"c{r}") for r in rows]
        record = FileRecord(source, f"/bench/{source}", "0" * 64, 1, 1, len(rows))
        engine.commit(add=[FileChunks(record, chunks, vectors[rows])])
    engine.close()


def open_index(home: str | Path, embedder: Embeddings) -> KnowledgeIndex:
    """Open the SQLite index under ``home`` as a new process would: everything read from the database."""
    engine = SQLiteEngine(Path(home))
    engine.refresh()
    return KnowledgeIndex(engine, embedder)


def latency(fn, queries: list) -> tuple[float, float]:  # noqa: ANN001
    """Return p50 and p95 in milliseconds of ``fn(query)`` over ``queries``."""
    times = []
    for query in queries:
        start = time.perf_counter()
        fn(query)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def measured_memory(build) -> tuple[object, float]:  # noqa: ANN001
    """Return ``build()`` and the MB it left allocated (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return result, (after - before) / 1e6


def bench_size(n: int, rng: np.random.Generator) -> dict[str, float]:
    """Measure ours and InMemoryVectorStore at ``n`` chunks."""
    vectors, texts, metadatas = corpus(n, rng)
    query_vectors = rng.standard_normal((QUERIES, DIMENSION)).tolist()
    query_texts = [" ".join(rng.choice(WORDS[:2000], 4)) for _ in range(QUERIES)]
    embedder = InstantEmbeddings()
    row: dict[str, float] = {"n": n, "raw_mb": vectors.nbytes / 1e6, "text_mb": sum(map(len, texts)) / 1e6}

    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        fill(home, IndexInfo("bench", DIMENSION), vectors, texts, metadatas)
        row["store_s"] = time.perf_counter() - start
        _, row["ours_mb"] = measured_memory(lambda: open_index(home, embedder))
        gc.collect()
        start = time.perf_counter()  # timed again without tracemalloc, which slows allocation
        loaded = open_index(home, embedder)
        row["ours_load_s"] = time.perf_counter() - start
        for mode in ("vector", "keyword", "hybrid"):
            embedder.queries = list(query_vectors)
            p50, p95 = latency(lambda q, m=mode: loaded.search(q, 4, m), query_texts)
            row[f"ours_{mode}_p50"], row[f"ours_{mode}_p95"] = p50, p95

    reference_queries = query_vectors[: 10 if n <= 10_000 else 3]
    with tempfile.TemporaryDirectory() as tmp:

        def build_reference() -> InMemoryVectorStore:
            store = InMemoryVectorStore(embedder)
            store.store = {
                f"c{i}": {"id": f"c{i}", "vector": vectors[i].tolist(), "text": texts[i], "metadata": metadatas[i]}
                for i in range(n)
            }  # what add_documents leaves behind, without calling an embedder
            return store

        reference, row["lc_mb"] = measured_memory(build_reference)
        path = os.path.join(tmp, "store.json")
        reference.dump(path)
        del reference
        gc.collect()
        start = time.perf_counter()
        reference = InMemoryVectorStore.load(path, embedder)
        row["lc_load_s"] = time.perf_counter() - start
        row["lc_vector_p50"], row["lc_vector_p95"] = latency(
            lambda q: reference.similarity_search_by_vector(q, 4), reference_queries
        )
    return row


def bench_reingest(files: int = 1000) -> dict[str, float]:
    """Ingest ``files`` small files with an instant embedder, then re-ingest them unchanged."""
    embedder = InstantEmbeddings()
    with tempfile.TemporaryDirectory() as tmp:
        docs, home = Path(tmp) / "docs", Path(tmp) / "home"
        docs.mkdir()
        for n in range(files):
            (docs / f"note{n:04d}.md").write_text(f"# Note {n}\n\n" + " ".join(f"word{n}x{i}" for i in range(300)))
        start = time.perf_counter()
        first = knowledge_base(home, docs, embedder).ingest()
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = knowledge_base(home, docs, embedder).ingest()
        again_s = time.perf_counter() - start
        assert again.report.unchanged == files and not again.report.changed
        return {"files": files, "chunks": again.index.chunk_count, "first_s": first_s, "unchanged_s": again_s,
                "first_chunks": first.report.chunks_embedded}  # fmt: skip


def bench_big_file(megabytes: int = 50) -> dict[str, float]:
    """Ingest one ``megabytes`` MB text file with an instant embedder; return time and peak memory."""
    embedder = InstantEmbeddings()
    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as tmp:
        docs, home = Path(tmp) / "docs", Path(tmp) / "home"
        docs.mkdir()
        path = docs / "big.txt"
        with path.open("w") as f:
            while f.tell() < megabytes * 1_000_000:
                words = rng.choice(WORDS[:5000], size=(200, 80))
                f.write("\n\n".join(" ".join(row) for row in words) + "\n\n")
        size = path.stat().st_size
        seconds, peak_mb, chunks = measured_ingest(docs, home, embedder)
        return {"mb": size / 1e6, "chunks": chunks, "s": seconds, "peak_mb": peak_mb,
                "vectors_mb": chunks * DIMENSION * 4 / 1e6}  # fmt: skip


def knowledge_base(home: Path, docs: Path, embedder: Embeddings) -> KnowledgeBase:
    """Return a knowledge base over ``docs`` with the instant embedder."""
    return KnowledgeBase(home, docs, "bench", lambda: embedder, chunk_size=800, chunk_overlap=50)


def measured_ingest(docs: Path, home: Path, embedder: Embeddings) -> tuple[float, float, int]:
    """Ingest ``docs``; return the seconds taken, the peak MB allocated (tracemalloc) and the chunks indexed."""
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    result = knowledge_base(home, docs, embedder).ingest()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 1e6, result.index.chunk_count


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--big-file-mb", type=int, default=50, help="size of the one-file ingest (0 to skip)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.system()} {platform.release()}\n")  # fmt: skip
    rows = []
    for n in args.sizes:
        print(f"measuring {n:,} chunks…", file=sys.stderr, flush=True)
        rows.append(bench_size(n, rng))

    print("| chunks | vector p50 / p95 ms | InMemoryVectorStore p50 / p95 ms | speed-up | keyword p50 / p95 ms "
          "| hybrid p50 / p95 ms | load s (ours / LC) | memory MB (ours / LC) | memory target MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        target = 1.5 * r["raw_mb"] + r["text_mb"]
        print(
            f"| {r['n']:,} | {r['ours_vector_p50']:.2f} / {r['ours_vector_p95']:.2f} "
            f"| {r['lc_vector_p50']:.1f} / {r['lc_vector_p95']:.1f} | {r['lc_vector_p50'] / r['ours_vector_p50']:.0f}x "
            f"| {r['ours_keyword_p50']:.2f} / {r['ours_keyword_p95']:.2f} "
            f"| {r['ours_hybrid_p50']:.2f} / {r['ours_hybrid_p95']:.2f} "
            f"| {r['ours_load_s']:.2f} / {r['lc_load_s']:.2f} | {r['ours_mb']:.0f} / {r['lc_mb']:.0f} "
            f"| {target:.0f} ({'met' if r['ours_mb'] <= target else 'MISSED'}) |"
        )
    print("\nStoring (one commit per file): " + ", ".join(f"{r['n']:,}: {r['store_s']:.1f} s" for r in rows))
    re = bench_reingest()
    print(f"\nRe-ingest of an unchanged {re['files']:,}-file corpus ({re['chunks']:,} chunks): "
          f"{re['unchanged_s'] * 1000:.0f} ms, 0 embedding calls (first ingest with an instant embedder: "
          f"{re['first_s']:.1f} s for {re['first_chunks']:,} chunks).")  # fmt: skip
    if args.big_file_mb:
        big = bench_big_file(args.big_file_mb)
        print(f"\nIngest of one {big['mb']:.0f} MB text file: {big['chunks']:,} chunks in {big['s']:.0f} s with an "
              f"instant embedder; peak memory {big['peak_mb']:.0f} MB (tracemalloc), of which the finished "
              f"float32 vectors are {big['vectors_mb']:.0f} MB.")  # fmt: skip


if __name__ == "__main__":
    main()
