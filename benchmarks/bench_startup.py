"""Benchmark how long ragchat's commands take from a fresh interpreter, beside Python's own start.

Builds the sample index (``rag_data/``) once in a temporary data folder against the fake Ollama
server from the tests (it answers instantly over real HTTP), then runs each command as a real
subprocess, ``python -m ui.cli …``, a fresh interpreter every time, and prints one Markdown table:
median and p90 wall time, the target, and whether the median met it. ``python -c pass`` is the
floor. For ``ask``, the time is until the first byte of the answer appears on stdout, so it is
everything ragchat does before a model that answers instantly: start, imports, settings, index,
the agent's graph, the thread store, the search and the request.

    python benchmarks/bench_startup.py              # about a minute
    python benchmarks/bench_startup.py --runs 20
    git worktree add /tmp/before HEAD~3 && python benchmarks/bench_startup.py --before /tmp/before

With ``--before TREE`` (another checkout of ragchat) every command is also run from that tree,
alternating run by run with this one, and the table puts the two side by side: on a shared,
noisy machine only a comparison made in one run means anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_ollama import FakeOllama  # noqa: E402

QUESTION = "How tall is Gannet Point Light?"
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("python -c pass", ["-c", "pass"], None),
    ("ragchat --help", ["-m", "ui.cli", "--help"], 0.3),
    ("ragchat sources", ["-m", "ui.cli", "sources"], 1.0),
    ("ragchat search --mode keyword lighthouse", ["-m", "ui.cli", "search", "--mode", "keyword", "lighthouse"], 1.0),
]
"""(label, arguments to python, target in seconds or None)."""
T = TypeVar("T")


def environment(url: str, home: Path) -> dict[str, str]:
    """Return this process's environment with ragchat pointed at the fake server and ``home`` only."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAGCHAT_")}
    env.update(OLLAMA_HOST=url, RAGCHAT_HOME=str(home), RAGCHAT_DOCS_DIR=str(ROOT / "rag_data"))
    return env


def wall_time(args: list[str], env: dict[str, str], tree: Path = ROOT) -> float:
    """Seconds for ``python args`` to run to its end in ``tree`` (output discarded; a failure stops the benchmark)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=tree, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def first_byte(args: list[str], env: dict[str, str], tree: Path = ROOT) -> tuple[float, float]:
    """Seconds until ``python args`` (run in ``tree``) writes its first byte to stdout, and until it ends."""
    start = time.perf_counter()
    with subprocess.Popen([sys.executable, *args], cwd=tree, env=env, stdout=subprocess.PIPE) as process:
        process.stdout.read(1)
        first = time.perf_counter() - start
        process.stdout.read()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, args)
    return first, time.perf_counter() - start


def p90(values: list[float]) -> float:
    """Return the 90th percentile (nearest rank)."""
    values = sorted(values)
    return values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]


def row(label: str, times: list[float], target: float | None, before: list[float] | None = None) -> str:
    """Return one table row: (before's median and p90,) median, p90, target and whether the median met it."""
    median = statistics.median(times)
    verdict = "—" if target is None else ("met" if median <= target else "MISSED")
    shown = "—" if target is None else f"≤ {target:.1f} s"
    earlier = f"{statistics.median(before):.2f} | {p90(before):.2f} | " if before else ""
    return f"| `{label}` | {earlier}{median:.2f} | {p90(times):.2f} | {shown} | {verdict} |"


def alternate(measure: Callable[[Path], T], runs: int, before: Path | None) -> tuple[list[T], list[T]]:
    """Run ``measure`` ``runs`` times in this tree (and in ``before``, alternating); return both lists of results."""
    ours: list[T] = []
    theirs: list[T] = []
    for _ in range(runs):
        if before is not None:
            theirs.append(measure(before))
        ours.append(measure(ROOT))
    return ours, theirs


def main() -> None:
    """Build the sample index, time every command and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--before", type=Path, help="another checkout of ragchat to time side by side")
    args = parser.parse_args()
    if args.before and not (args.before / "ui" / "cli.py").is_file():
        parser.error(f"{args.before} is not a ragchat checkout (no ui/cli.py) — give the folder of one")
    fake = FakeOllama().start()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; {args.runs} runs of each command, sample index "
          f"(rag_data/), fake Ollama answering instantly\n")  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = environment(fake.url, Path(tmp) / "home")
            print("building the sample index…", file=sys.stderr, flush=True)
            wall_time(["-m", "ui.cli", "ingest"], env)
            trees = [args.before, ROOT] if args.before else [ROOT]
            earlier = "before: median s | before: p90 s | " if args.before else ""
            print(f"| command | {earlier}median s | p90 s | target | |")
            print("|---|" + "---:|" * (4 if args.before else 2) + "---:|---|")
            for label, command, target in COMMANDS:
                for tree in trees:  # warm the disk cache: every run below starts alike
                    wall_time(command, env, tree)
                ours, theirs = alternate(lambda tree, c=command: wall_time(c, env, tree), args.runs, args.before)
                print(row(label, ours, target, theirs), flush=True)
            ask = ["-m", "ui.cli", "ask", "--thread", "bench", QUESTION]
            for tree in trees:
                first_byte(ask, env, tree)
            ours_ask, theirs_ask = alternate(lambda tree: first_byte(ask, env, tree), args.runs, args.before)
            label = f'ragchat ask "{QUESTION}"'
            print(row(f"{label}: first byte of the answer", [r[0] for r in ours_ask], None,
                      [r[0] for r in theirs_ask] or None))  # fmt: skip
            print(row(f"{label}: whole command", [r[1] for r in ours_ask], None, [r[1] for r in theirs_ask] or None))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
