"""Many conversations at once through one graph and one checkpointer; ingest while questions are asked."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from knowledge.errors import RagchatError
from knowledge.index import KnowledgeIndex
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


def test_questions_during_an_ingest_never_see_a_half_written_index(settings: Settings, fake_ollama: FakeOllama) -> None:
    app = Assistant(load_settings(**{**settings.model_dump(), "retrieval_mode": "keyword"}))
    app.ensure_index()
    write_long_files(settings.docs_dir / "long", 6)
    fake_ollama.fault("/api/embed", Fault("stall", seconds=0.2), times=3)
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
    given: dict[int, tuple[KnowledgeIndex, int, list[str]]] = {}  # every index a question was handed, as handed
    worker.start()
    while not done.is_set():
        for index in (app.load_index(), reader.load_index()):
            given.setdefault(id(index), (index, index.chunk_count, sorted(index.files)))
            assert index.chunk_count == sum(record.chunks for record in index.files.values())
        assert [hit.metadata["source"] for hit in app.search("Quillmarsh bell", mode="keyword")][:1] == ["harbour.md"]
    worker.join()
    assert failures == []
    final = app.load_index()
    assert len(final.files) == 8
    # The ingest changed a private copy: an index already handed to a question never changed under it.
    assert [(count, files) for index, count, files in given.values()] == [
        (index.chunk_count, sorted(index.files)) for index, _, _ in given.values()
    ]
    assert {count for _, count, _ in given.values()} <= {4, final.chunk_count}  # the old one or the complete new one
    assert 4 in {count for _, count, _ in given.values()}  # questions were asked while the old one was live


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
