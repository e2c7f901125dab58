"""``kill -9`` in the middle of an ingest and of a turn: after a restart everything stored before is there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from tests.fake_ollama import FakeOllama, Fault
from tests.indexes import stored
from tests.test_index import write_long_files

ROOT = Path(__file__).parents[1]


def start(args: list[str], fake: FakeOllama) -> subprocess.Popen[str]:
    env = {**os.environ, "OLLAMA_HOST": fake.url}
    return subprocess.Popen(
        [sys.executable, "-m", "ui.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("batches", [0, 1, 2])
def test_kill_during_ingest_keeps_what_was_committed_and_a_rerun_completes_to_a_fresh_build(
    env: Settings, fake_ollama: FakeOllama, batches: int
) -> None:
    before = sorted(Assistant(load_settings()).ingest().index.files)
    write_long_files(env.docs_dir / "long", 8)  # 20 chunks each: 3 more files complete with every batch of 64
    calls = len(fake_ollama.calls("/api/embed"))
    fake_ollama.fault("/api/embed", Fault("stall", seconds=30), after=batches)  # this batch hangs
    process = start(["ingest"], fake_ollama)
    wait_for(lambda: len(fake_ollama.calls("/api/embed")) >= calls + batches + 1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    after = Assistant(load_settings()).load_index()
    kept = set(after.files) - set(before)
    assert set(before) <= set(after.files)
    assert kept == {f"long/long{n}.txt" for n in range(batches * 64 // 20)}  # every file committed whole, no other
    assert after.chunk_count == sum(record.chunks for record in after.files.values())
    report = Assistant(load_settings()).ingest().report
    assert len(report.added) == 8 - len(kept) and report.unchanged == 2 + len(kept)
    rerun = sorted(chunk.id for chunk in stored(Assistant(load_settings()).load_index()))
    Assistant(load_settings()).ingest(rebuild=True)
    assert sorted(chunk.id for chunk in stored(Assistant(load_settings()).load_index())) == rerun


def test_kill_during_a_turn_keeps_the_thread(env: Settings, fake_ollama: FakeOllama) -> None:
    app = Assistant(load_settings())
    app.ensure_index()
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    app.ask("Who cast the Quillmarsh bell?", "kept").run()
    fake_ollama.fault("/api/chat", Fault("stall", seconds=30), after=1)  # the rewrite answers, the answer hangs
    process = start(["ask", "--thread", "kept", "How heavy is the Quillmarsh bell?"], fake_ollama)
    wait_for(lambda: len(fake_ollama.calls("/api/chat")) >= 3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    restarted = Assistant(load_settings())
    contents = [m.content for m in restarted.history("kept")]
    assert contents[:2] == ["Who cast the Quillmarsh bell?", "Oriel Vantongeren cast it [1]."]
    assert [t.id for t in restarted.threads()] == ["kept"]
    fake_ollama.enqueue("How heavy is the Quillmarsh bell", "612 kilograms [1].")
    assert restarted.ask("How heavy is the Quillmarsh bell?", "kept").run().answer == "612 kilograms [1]."
