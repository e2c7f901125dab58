"""Benchmark the knowledge base's storage against an earlier ragchat, side by side in one run.

The corpus is synthetic: paragraphs of Zipf-distributed words whose commonest are English's
commonest (stopwords, which keyword search drops), like real text; questions are four of its
other words. Both versions ingest it through their own ``KnowledgeBase`` with the
same instant embedder (a seeded random vector per text: embedding costs nothing, so the
figures are the storage's own cost), each in a process of its own. The earlier version is
taken from git (``--before``, default: the last commit before the SQLite engine) with
``git archive``. Printed as tables:

1. incremental updates in one process (as the web page): the first ingest, an unchanged
   re-ingest, one changed file, one deleted file; then one changed file from a new process (as
   the CLI: the index is opened first);
2. queries on the built index: vector, keyword and hybrid p50 / p95;
3. a cold ``ragchat search`` (a new process, from start to result, the query embedded by a
   fake Ollama on 127.0.0.1) and its peak memory;
4. ``kill -9`` during an ingest at several moments: what a restart finds, and whether a
   re-run ends with exactly the chunk ids of a fresh build.

    python benchmarks/bench_storage.py                        # 10,000 files, 100k chunks: ~15 min
    python benchmarks/bench_storage.py --files 1000 --kills 2  # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "dda5fe6"
"""The last commit with the earlier index (numpy matrix, bm25s and a JSON manifest written as generations)."""
DIMENSION = 768
EMBEDDING = "ollama/nomic-embed-text"
VOCABULARY = 20_000
PARAGRAPH_WORDS = 110  # ~700 characters: one chunk per paragraph at the default chunk size of 800
STOPWORDS = (
    "the of and to a in is it that was for on are as with be at by this not but or they an their there these then "
    "if no into such will"
).split()
"""The English stopwords keyword search drops, commonest first: in real text they are the commonest tokens, and
the synthetic words below them follow the same Zipf curve."""


# -- the worker: runs inside one version's code --------------------------------------------------
def instant_embeddings(delay: float = 0.0) -> Any:
    """Return an embedder giving every text its own seeded random vector (``delay`` seconds per request)."""
    import numpy as np
    from langchain_core.embeddings import Embeddings

    class Instant(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if delay:
                time.sleep(delay)
            return [self.embed_query(text) for text in texts]

        def embed_query(self, text: str) -> list[float]:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            return rng.standard_normal(DIMENSION, dtype=np.float32).tolist()

    return Instant()


def knowledge_base(home: Path, docs: Path, delay: float = 0.0, url: str | None = None) -> Any:
    """Return this version's knowledge base over ``docs`` with the instant embedder (in Postgres at ``url``)."""
    from knowledge.base import KnowledgeBase

    embeddings = instant_embeddings(delay)
    extra: dict[str, Any] = {}
    if url:
        from knowledge.postgres_engine import PostgresEngine

        extra["engine"] = PostgresEngine(url)
    return KnowledgeBase(home, docs, EMBEDDING, lambda: embeddings, chunk_size=800, chunk_overlap=50, **extra)


def chunk_ids(base: Any) -> list[str]:
    """Return every chunk id of the index, sorted, whichever version this is."""
    index = base.current()
    if index is None:
        return []
    if hasattr(index, "store"):  # the earlier version: one matrix store
        return sorted(index.store.ids)
    engine = index.engine
    return sorted(chunk.id for chunk in engine.chunks(engine.keys()).values())


def timed(action: Any) -> float:
    """Return the seconds ``action()`` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def worker(args: argparse.Namespace) -> None:
    """One version's side of a step; prints a JSON object."""
    import knowledge

    home, docs, url = Path(args.home), Path(args.docs), args.database_url

    def knowledge_base(home: Path, docs: Path, delay: float = 0.0) -> Any:
        return globals()["knowledge_base"](home, docs, delay, url)

    result: dict[str, Any] = {"code": str(Path(knowledge.__file__).parents[1])}
    if args.worker == "incremental":
        base = knowledge_base(home, docs)  # one process throughout, as the web page
        result["first"] = timed(base.ingest)
        result["chunks"] = base.current().chunk_count
        result["unchanged"] = timed(base.ingest)
        changed = docs / "f00042.txt"
        changed.write_text(changed.read_text() + "\n\nOne more paragraph about the harbour wall.\n")
        result["one_changed"] = timed(base.ingest)
        (docs / "f00043.txt").unlink()
        result["one_deleted"] = timed(base.ingest)
        changed.write_text(changed.read_text() + "\n\nAnd another.\n")
        result["one_changed_cli"] = timed(knowledge_base(home, docs).ingest)  # a new process: the index opened first
    elif args.worker == "queries":
        base = knowledge_base(home, docs)
        base.current()
        queries = [question(n) for n in range(args.queries)]
        for mode in ("vector", "keyword", "keyword again", "hybrid"):  # hybrid's words were asked before too
            kind = mode.split()[0]
            base.search(queries[0], 4, kind)  # warm
            times = [timed(lambda q=q, m=kind: base.search(q, 4, m)) * 1000 for q in queries]
            result[mode] = (statistics.median(times), percentile(times, 95))
    elif args.worker == "recall":  # the vector index's answers against exact search over the same vectors
        result["recall"] = recall(knowledge_base(home, docs).current().engine, args.queries)
    elif args.worker == "ingest":
        base = knowledge_base(home, docs, args.delay)
        base.ingest()
        result["ids"] = digest(chunk_ids(base))
    elif args.worker == "state":
        base = knowledge_base(home, docs)
        index = base.current()
        result["files"] = len(index.files) if index is not None else 0
        result["ids"] = digest(chunk_ids(base))
    print(json.dumps(result))


def recall(engine: Any, queries: int, depth: int = 4) -> dict[str, float]:
    """Return how the engine's vector search compares with exact search over the same vectors.

    ``recall@4, random queries``: the share of the exact top ``depth`` found, for random query vectors (on random
    vectors every chunk is almost equally far: approximate search's worst case), at the engine's own setting.
    ``near a chunk, found first``: for a query near one stored chunk (its vector plus noise, cosine ~0.8: a question
    that matches a passage), whether that chunk comes first, at each ``hnsw.ef_search`` of :data:`EF_SEARCHES`.
    """
    import numpy as np

    ids, vectors = [], []
    for batch in engine.export():
        for item in batch:
            ids += [chunk.id for chunk in item.chunks]
            vectors.append(item.vectors)
    matrix = np.vstack(vectors)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    rng = np.random.default_rng(3)
    random_found: list[float] = []
    near_found: dict[int, list[float]] = {}
    for _ in range(queries):
        query = rng.standard_normal(DIMENSION).astype(np.float32)
        exact = {ids[row] for row in np.argsort(-(matrix @ (query / np.linalg.norm(query))))[:depth]}
        keys, _ = engine.vector_ranking(query, depth, None)
        random_found.append(len(exact & {c.id for c in engine.chunks(keys.tolist()).values()}) / depth)
        row = int(rng.integers(len(matrix)))
        near = matrix[row] + 0.75 * rng.standard_normal(DIMENSION).astype(np.float32) / np.sqrt(DIMENSION)
        for ef_search in EF_SEARCHES:
            with searching(ef_search):
                keys, _ = engine.vector_ranking(near, depth, None)
            first = engine.chunks(keys[:1].tolist())
            near_found.setdefault(ef_search, []).append(float([c.id for c in first.values()] == [ids[row]]))
    return {f"recall@{depth}, random queries": float(np.mean(random_found))} | {
        f"near a chunk, found first (ef_search {ef_search})": float(np.mean(found))
        for ef_search, found in near_found.items()
    }


EF_SEARCHES = (40, 100, 200, 400)
"""The ``hnsw.ef_search`` values recall is measured at: pgvector's default, then deeper."""


@contextmanager
def searching(ef_search: int) -> Iterator[None]:
    """Make the Postgres engine search its HNSW index with exactly ``ef_search`` candidates inside the block."""
    from knowledge import postgres_engine

    kept = postgres_engine.EF_SEARCH
    postgres_engine.EF_SEARCH = (ef_search, ef_search)
    try:
        yield
    finally:
        postgres_engine.EF_SEARCH = kept


def filled_postgres(url: str, chunks: int, texts: list[str] | None = None, vectors: Any = None) -> Any:
    """Return a Postgres engine holding ``chunks`` chunks, 10 per file, its vector index built.

    The chunks are ``texts`` with ``vectors`` when given, else placeholders with random 768-d vectors.
    """
    from knowledge.engine import IndexInfo, in_batches
    from knowledge.postgres_engine import PostgresEngine

    engine = PostgresEngine(url)
    engine.start(IndexInfo(EMBEDDING))
    with engine.writing():
        for batch in in_batches(bench_files(0, chunks, texts, vectors)):
            engine.commit(add=batch)
        engine.settle()
    engine.refresh()
    return engine


def bench_files(first: int, chunks: int, texts: list[str] | None = None, vectors: Any = None) -> Iterator[Any]:
    """Yield files of 10 chunks each, numbered from ``first``: ``texts`` and ``vectors``, else random 768-d ones."""
    import numpy as np
    from langchain_core.documents import Document

    from knowledge.engine import FileChunks, FileRecord

    rng = np.random.default_rng(5 + first)
    for f in range(first, first + chunks // 10):
        source, rows = f"f{f}.txt", range(10 * f, 10 * f + 10)
        docs = [Document(texts[row] if texts else f"chunk {row} of {source}", id=f"{f}-{row}",
                         metadata={"source": source, "start_index": row}) for row in rows]  # fmt: skip
        record = FileRecord(source, f"/bench/{source}", "0" * 64, 1, 1, 10)
        chosen = vectors[10 * f : 10 * f + 10] if vectors is not None else None
        yield FileChunks(record, docs, chosen if chosen is not None else rng.standard_normal((10, DIMENSION)))


def growth(admin: str, held: int, added: int) -> list[list[str]]:
    """Return table rows: seconds to add ``added`` random chunks to ``held`` indexed ones, inserting or rebuilding."""
    from knowledge import postgres_engine
    from knowledge.engine import in_batches

    rows, default = [], postgres_engine.REBUILD_SHARE
    for way, share in (("inserted into the HNSW index", float("inf")), ("index built anew", default)):
        engine = filled_postgres(new_database(admin), held)
        postgres_engine.REBUILD_SHARE = share
        start = time.perf_counter()
        with engine.writing():
            for batch in in_batches(bench_files(held // 10, added)):
                engine.commit(add=batch)
            engine.settle()
        rows.append([f"{held:,}", f"{added:,}", way, f"{time.perf_counter() - start:.1f}"])
        engine.close()
    return rows


PUBLIC_TEXT = ("/usr/share/doc/python3.11/html/_sources", "/usr/share/doc/linux-doc-6.1")
"""Real prose for --recall-vectors wordllama: Debian's python3.11-doc and linux-doc-6.1 (reStructuredText sources)."""


def public_passages(count: int) -> list[str]:
    """Return ``count`` different passages of real English prose, split as ragchat splits (about 700 characters).

    The text is the Python and Linux kernel manuals' sources (``apt-get install python3.11-doc linux-doc-6.1``),
    then the longer docstrings of the Python packages installed here, in a fixed order. A passage met again (the
    kernel's manual ships each source twice) is taken once: equal vectors are not what a user's documents hold.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=700, chunk_overlap=0)
    passages: dict[str, None] = {}
    for text in _manuals_then_docstrings():
        passages.update((part, None) for part in splitter.split_text(text) if len(part) >= 200)
        if len(passages) >= count:
            return list(passages)[:count]
    raise SystemExit(f"Only {len(passages):,} passages here: install {', '.join(PUBLIC_TEXT)}, or ask for fewer.")


def _manuals_then_docstrings() -> Iterator[str]:
    import ast
    import gzip
    import sysconfig

    for root in PUBLIC_TEXT:
        for path in sorted(Path(root).rglob("*")):
            if path.name.endswith((".txt", ".rst", ".rst.gz", ".txt.gz")):
                raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
                yield raw.decode("utf-8", errors="replace")
    for path in sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py")):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 200:
                    yield doc


def real_recall(engine: Any, vectors: Any, questions: Any, depth: int = 4) -> dict[str, float]:
    """Return the share of the exact top ``depth`` that the engine's vector search finds, per search depth.

    ``questions`` are embedded texts the index does not hold (the opening sentences of other passages), searched
    at each ``hnsw.ef_search`` of :data:`EF_SEARCHES`. A chunk found counts when it is as close as the exact
    ``depth``-th (equal vectors: any of them is right).
    """
    import numpy as np

    matrix = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    found: dict[int, list[float]] = {}
    took: dict[int, list[float]] = {}
    for ef_search in EF_SEARCHES:
        for question in questions:
            cosines = matrix @ question
            enough = np.sort(cosines)[-depth] - 1e-5
            start = time.perf_counter()
            with searching(ef_search):
                keys, _ = engine.vector_ranking(question, depth, None)
            took.setdefault(ef_search, []).append((time.perf_counter() - start) * 1000)
            rows = [int(chunk.id.split("-")[1]) for chunk in engine.chunks(keys[:depth].tolist()).values()]
            found.setdefault(ef_search, []).append(sum(cosines[row] >= enough for row in rows) / depth)
    return {
        f"recall@{depth} at ef_search {ef} (p50 {statistics.median(took[ef]):.1f} ms)": float(np.mean(values))
        for ef, values in found.items()
    }


def percentile(values: list[float], p: float) -> float:
    """Return the ``p``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def digest(ids: list[str]) -> str:
    """Return a short fingerprint of a sorted id list: its length and a hash."""
    return f"{len(ids)}:{hashlib.sha256(''.join(ids).encode()).hexdigest()[:12]}"


def words(seed: int, count: int) -> list[str]:
    """Return ``count`` words of the synthetic vocabulary, Zipf-like (a few common, most rare)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.3, count), VOCABULARY) - 1
    return [STOPWORDS[rank] if rank < len(STOPWORDS) else f"w{rank}" for rank in ranks.tolist()]


def question(seed: int) -> str:
    """Return a keyword question as a user types it: four words of the text that are not stopwords."""
    picked = [word for word in words(seed, 40) if word not in STOPWORDS]
    return " ".join(picked[:4])


def write_corpus(docs: Path, files: int, paragraphs: int) -> None:
    """Write ``files`` text files of ``paragraphs`` paragraphs each (one chunk per paragraph)."""
    docs.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        write_corpus_file(docs, f, paragraphs)


def write_corpus_file(docs: Path, f: int, paragraphs: int) -> None:
    """Write file number ``f`` of the synthetic corpus (the same text every time)."""
    body = "\n\n".join(" ".join(words(f * 1000 + p, PARAGRAPH_WORDS)) + "." for p in range(paragraphs))
    (docs / f"f{f:05d}.txt").write_text(body + "\n")


# -- the runner ------------------------------------------------------------------------------------
def run_worker(code: Path, step: str, home: Path, docs: Path, **extra: Any) -> dict[str, Any]:
    """Run one step in a new process whose ``knowledge`` package is the one under ``code``."""
    command = [sys.executable, __file__, "--worker", step, "--home", str(home), "--docs", str(docs)]
    for name, value in extra.items():
        command += [f"--{name}", str(value)]
    done = subprocess.run(command, env=side_env(code), capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{step} failed in {code}:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["code"]).resolve() == code.resolve(), result["code"]  # the version meant, not the installed one
    return result


def new_database(admin: str) -> str:
    """Create an empty database on the Postgres at ``admin``; return its URL."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))


def side_env(code: Path) -> dict[str, str]:
    """Return the environment of a process that imports ragchat from ``code``."""
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}


def checkout(revision: str, folder: Path) -> Path:
    """Unpack ``revision``'s files into ``folder`` (no worktree bookkeeping)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def cold_search(
    code: Path, home: Path, docs: Path, url: str, database: str | None, runs: int = 3
) -> tuple[float, float]:
    """Return the median seconds and peak MB of a new ``ragchat search`` process on this index."""
    env = {**side_env(code), "RAGCHAT_HOME": str(home), "RAGCHAT_DOCS_DIR": str(docs), "OLLAMA_HOST": url}
    if database:
        env["RAGCHAT_DATABASE_URL"] = database
    command = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "ui.cli", "search", question(7)]
    seconds, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=code, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - start)
        if done.returncode:
            raise SystemExit(f"ragchat search failed in {code}:\n{done.stderr[-2000:]}")
        peaks.append(int(done.stderr.strip().splitlines()[-1].split()[1]) / 1024)
    return statistics.median(seconds), max(peaks)


def kill_during_ingest(
    code: Path, work: Path, docs: Path, delay: float, fresh: str, database: str | None
) -> dict[str, Any]:
    """Kill an ingest ``delay`` s in, then re-run it; return what the restart found and whether it ends as ``fresh``."""
    home = work / f"kill-{delay}"
    command = [sys.executable, __file__, "--worker", "ingest", "--home", str(home), "--docs", str(docs)]
    extra = {"database-url": database} if database else {}
    command += [f"--database-url={database}"] if database else []
    process = subprocess.Popen(
        [*command, "--delay", "0.02"], env=side_env(code), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    found = run_worker(code, "state", home, docs, **extra)
    completed = run_worker(code, "ingest", home, docs, **extra)
    return {"found": found["files"], "same": completed["ids"] == fresh}


@contextmanager
def postgres(args: argparse.Namespace) -> Iterator[str | None]:
    """Yield the URL of a Postgres to measure (``--database-url``, or one started with pgserver), or None."""
    if not args.postgres:
        yield None
        return
    if args.database_url:
        yield args.database_url
        return
    import pgserver

    root = Path(tempfile.mkdtemp(prefix="ragchat-bench-pg-"))
    server = pgserver.get_server(root / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    """Run every step on both versions and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the earlier version to compare with (a git revision)")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--paragraphs", type=int, default=10, help="paragraphs (chunks) per file")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--kills", type=int, default=3, help="kill -9 moments to try (0: none)")
    parser.add_argument("--kill-files", type=int, default=1000, help="size of the corpus the kills interrupt")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--docs", help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--postgres", action="store_true", help="measure the Postgres engine too (pgserver, or --database-url)"
    )
    parser.add_argument("--recall-only", type=int, metavar="CHUNKS", help="only Postgres's HNSW recall at this size")
    parser.add_argument(
        "--growth", type=int, metavar="CHUNKS", help="only Postgres: add a quarter more to this many indexed chunks"
    )
    parser.add_argument(
        "--recall-vectors", choices=("random", "wordllama"), default="random",
        help="with --recall-only: random 768-d vectors, or WordLlama's embeddings of real passages (needs [bench])",
    )  # fmt: skip
    parser.add_argument("--database-url", help="a Postgres with pgvector that may create databases (default: pgserver)")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    from tabulate import tabulate

    sys.path.insert(0, str(ROOT))
    if args.growth:
        args.postgres = True
        with postgres(args) as admin:
            rows = growth(admin, args.growth, args.growth // 4)
        print(tabulate(rows, ["chunks held", "chunks added", "vector index", "ingest s"], tablefmt="github"))
        return 0
    if args.recall_only:
        args.postgres = True
        texts = vectors = None
        if args.recall_vectors == "wordllama":
            import numpy as np

            from benchmarks.eval_proxy import wordllama_embedder

            print("Reading and embedding passages…", file=sys.stderr)
            passages = public_passages(args.recall_only + args.queries)
            texts, asked = passages[: args.recall_only], passages[args.recall_only :]
            embed = wordllama_embedder()
            vectors = np.asarray(embed(texts), dtype=np.float32)
            questions = np.asarray(embed([text.split(". ")[0][:200] for text in asked]), dtype=np.float32)
        with postgres(args) as admin:
            start = time.perf_counter()
            engine = filled_postgres(new_database(admin), args.recall_only, texts, vectors)
            built = time.perf_counter() - start
            if vectors is None:
                measured = recall(engine, args.queries)
            else:
                measured = real_recall(engine, vectors, questions / np.linalg.norm(questions, axis=1, keepdims=True))
            engine.close()
        kind = "random 768-d" if vectors is None else f"WordLlama {vectors.shape[1]}-d real passage"
        print(f"Postgres, {args.recall_only:,} {kind} chunks stored and indexed in {built:.0f} s; "
              "HNSW against exact search: "
              + "; ".join(f"{kind}: {value:.3f}" for kind, value in measured.items()))  # fmt: skip
        return 0
    from tests.fake_ollama import FakeOllama

    fake = FakeOllama(embedder=lambda texts: instant_embeddings().embed_documents(texts)).start()
    with tempfile.TemporaryDirectory(prefix="ragchat-bench-storage-") as tmp, postgres(args) as admin:
        work = Path(tmp)
        sides = {f"before ({args.before})": checkout(args.before, work / "before"), "now (SQLite)": ROOT}
        if admin:
            sides["now (Postgres)"] = ROOT

        def database(name: str) -> str | None:
            return new_database(admin) if admin and "Postgres" in name else None

        recalled = None
        docs = work / "docs"
        print(f"Writing {args.files:,} files of {args.paragraphs} paragraphs…", file=sys.stderr)
        write_corpus(docs, args.files, args.paragraphs)
        incremental, queries, cold = [], [], []
        for name, code in sides.items():
            home = work / f"home-{len(incremental)}"
            url = database(name)
            extra = {"database-url": url} if url else {}
            print(f"{name}: incremental updates…", file=sys.stderr)
            step = run_worker(code, "incremental", home, docs, **extra)
            first = step["first"]
            unchanged = f"{step['unchanged']:.2f} ({step['unchanged'] / first:.1%})"
            incremental.append([
                name, f"{step['chunks']:,}", f"{first:.1f}", unchanged, f"{step['one_changed']:.2f}",
                f"{step['one_deleted']:.2f}", f"{step['one_changed_cli']:.2f}",
            ])  # fmt: skip
            print(f"{name}: queries…", file=sys.stderr)
            step = run_worker(code, "queries", home, docs, queries=args.queries, **extra)
            modes = ("vector", "keyword", "keyword again", "hybrid")
            queries.append([name, *(f"{step[m][0]:.2f} / {step[m][1]:.2f}" for m in modes)])
            print(f"{name}: cold search…", file=sys.stderr)
            seconds, peak = cold_search(code, home, docs, fake.url, url)
            cold.append([name, f"{seconds:.2f}", f"{peak:,.0f}"])
            if url:
                print(f"{name}: vector index recall…", file=sys.stderr)
                recalled = run_worker(code, "recall", home, docs, queries=args.queries, **extra)["recall"]
            write_corpus_file(docs, 42, args.paragraphs)  # undo the worker's changes for the next side
            write_corpus_file(docs, 43, args.paragraphs)
        kills = []
        if args.kills:
            small = work / "small"
            write_corpus(small, args.kill_files, args.paragraphs)
            for name, code in sides.items():
                url = database(name)
                extra = {"database-url": url} if url else {}
                fresh = run_worker(code, "ingest", work / f"fresh-{len(kills)}", small, **extra)["ids"]
                for n in range(args.kills):
                    delay = 1.0 + 2.0 * n
                    print(f"{name}: kill -9 after {delay:.0f} s…", file=sys.stderr)
                    place = work / name.split()[-1].strip("()")
                    outcome = kill_during_ingest(code, place, small, delay, fresh, database(name))
                    kills.append([name, f"{delay:.0f}", outcome["found"], "yes" if outcome["same"] else "NO"])
    fake.stop()
    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{args.files:,} files × {args.paragraphs} paragraphs, instant embedder\n")  # fmt: skip
    print(tabulate(incremental, ["version", "chunks", "first ingest s", "unchanged re-ingest s (of first)",
                                 "one file changed s", "one file deleted s", "one changed, new process s"],
                   tablefmt="github"))  # fmt: skip
    print()
    print(tabulate(queries, ["version", "vector p50 / p95 ms", "keyword p50 / p95 ms",
                             "keyword, same questions again", "hybrid p50 / p95 ms"], tablefmt="github"))  # fmt: skip
    print()
    print(tabulate(cold, ["version", "cold `ragchat search` s", "peak MB"], tablefmt="github"))
    if recalled is not None:
        print(f"\nPostgres HNSW against exact search ({args.queries} queries each): "
              + "; ".join(f"{kind}: {value:.3f}" for kind, value in recalled.items()))  # fmt: skip
    if kills:
        print()
        print(tabulate(kills, ["version", "killed after s", "files a restart finds", "re-run = fresh build"],
                       tablefmt="github"))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
