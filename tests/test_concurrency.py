"""Many conversations at once through one graph and one checkpointer; ingest while questions are asked."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama, Fault
from tests.test_index import write_long_files

REF = re.compile(r"ref(\d+)")


def test_eight_conversations_at_once_keep_their_own_history(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    def converse(n: int) -> None:
        assistant.ask(f"Who cast the Quillmarsh bell? ref{n}", f"thread-{n}").run()
        assistant.ask(f"And how heavy is the Quillmarsh bell? ref{n}", f"thread-{n}").run()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(converse, range(8)))
    answers = [c for c in fake_ollama.calls("/api/chat") if c["messages"][0]["role"] == "system"]
    assert len(answers) == 16
    for call in answers:
        refs = {ref for m in call["messages"][1:] for ref in REF.findall(m["content"])}
        assert len(refs) == 1, refs  # every prompt holds one thread's turns only
    reopened = Assistant(assistant.settings)
    for n in range(8):
        history = reopened.history(f"thread-{n}")
        assert len(history) == 4 and all(f"ref{n}" in m.content for m in history if m.type == "human")
    assert sorted(t.messages for t in reopened.threads()) == [4] * 8


def test_questions_during_an_ingest_see_whole_files_appear_one_commit_at_a_time(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    app = Assistant(load_settings(**{**settings.model_dump(), "retrieval_mode": "keyword"}))
    app.ensure_index()
    write_long_files(settings.docs_dir / "long", 6)
    fake_ollama.fault("/api/embed", Fault("stall", seconds=0.3), times=3)
    done = threading.Event()
    failures: list[BaseException] = []

    def ingest() -> None:
        try:
            app.ingest()
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            done.set()

    reader = Assistant(settings)  # another process's view of the same data folder
    worker = threading.Thread(target=ingest)
    seen: list[tuple[int, list[str]]] = []  # every state a question was handed, in order
    worker.start()
    while not done.is_set():
        index = reader.load_index()
        state = (index.chunk_count, sorted(index.files))
        assert state[0] == sum(record.chunks for record in index.files.values())  # records and chunks agree
        if not seen or seen[-1] != state:
            seen.append(state)
        assert [hit.metadata["source"] for hit in app.search("Quillmarsh bell", mode="keyword")][:1] == ["harbour.md"]
        time.sleep(0.01)
    worker.join()
    assert failures == []
    final = reader.load_index()
    assert len(final.files) == 8 and final.chunk_count == 124
    counts = [count for count, _ in seen]
    assert counts == sorted(counts) and counts[0] == 4  # only ever growing, from the index before
    assert all(count == 4 + 20 * (len(files) - 2) for count, files in seen)  # whole files of 20 chunks, never part
    assert any(4 < count < 124 for count in counts)  # files committed as they completed, not all at the end


def test_a_second_process_ingesting_gets_a_clear_message(assistant: Assistant) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         "lock = FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(30)",
         str(assistant.settings.home / "index.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RagchatError, match="^Another ragchat is updating the index right now"):
            assistant.ingest()
        assert assistant.load_index().chunk_count == 4
    finally:
        holder.kill()
        holder.wait()
    assert assistant.ingest().report.unchanged == 2  # free again once the other process is gone
