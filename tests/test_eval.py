"""`ragchat eval`: reading question files, ranking, follow-ups through contextualize, answers, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.evaluation import (
    abstention_summary,
    contains_answer,
    evaluate,
    evidence_floor,
    load_questions,
    summarise,
    sweep,
)
from agent.settings import Settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama, rewrite_request
from tests.indexes import stored
from ui.cli import main

BELL = {"question": "Who cast the Quillmarsh tide bell?", "answers": ["Oriel Vantongeren"]}
LINES = [
    {"id": "bell", **BELL, "source": "harbour.md"},
    {"id": "wrongfile", **BELL, "source": "notes/market.txt"},
    {"id": "none", "question": "What is the population of Peru?", "answers": []},
    {"id": "c1", "conversation": "ferry", "question": "Where does the morning ferry go?", "answers": ["Dunlow"]},
    {"id": "c2", "conversation": "ferry", "question": "When does it leave?", "answers": ["07:15"]},
]  # fmt: skip


def write(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_answers_match_ignoring_case_and_punctuation() -> None:
    assert contains_answer("It cost £1,860,000 in total.", ["1,860,000"])
    assert contains_answer("Built by TOBIAS WRAYBURN-HALE.", ["Tobias Wrayburn Hale"])
    assert not contains_answer("It stands 340 metres.", ["34 metres"])


def test_conversation_turns_are_numbered_in_file_order(tmp_path: Path) -> None:
    questions = load_questions(write(tmp_path, LINES))
    assert [(q.id, q.turn) for q in questions] == [("bell", 0), ("wrongfile", 0), ("none", 0), ("c1", 0), ("c2", 1)]


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text('{"question": "ok?", "answers": ["x"]}\n{"answers": ["no question"]}\n')
    with pytest.raises(RagchatError, match=r"eval\.jsonl line 2 is not a question \(KeyError"):
        load_questions(path)


def test_ranks_respect_the_expected_file_and_skip_unanswerable(assistant: Assistant, tmp_path: Path) -> None:
    results = {r.id: r for r in evaluate(assistant, load_questions(write(tmp_path, LINES)))}
    assert results["bell"].ranks == {"keyword": 1, "vector": 1, "hybrid": 1}
    assert results["wrongfile"].ranks == {"keyword": None, "vector": None, "hybrid": None}
    rows = {(r["mode"], r["questions"]): r for r in summarise(list(results.values()))}
    assert rows[("keyword", "all")]["n"] == 4  # the unanswerable question is not in recall
    assert rows[("keyword", "follow-up")]["n"] == 1


def test_follow_ups_go_through_the_real_rewrite_with_history(
    assistant: Assistant, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.enqueue("When does the morning ferry to Dunlow leave")
    results = {r.id: r for r in evaluate(assistant, load_questions(write(tmp_path, LINES)))}
    rewrite = fake_ollama.calls("/api/chat")[-1]["messages"][0]["content"]
    assert "User: Where does the morning ferry go?\nAssistant: Dunlow" in rewrite
    assert results["c2"].query == "When does the morning ferry to Dunlow leave" and results["c2"].follow_up
    assert results["c2"].ranks["keyword"] == 1


def test_answers_mode_scores_answers_and_abstentions(assistant: Assistant, tmp_path: Path) -> None:
    results = {r.id: r for r in evaluate(assistant, load_questions(write(tmp_path, LINES[:3])), answers=True)}
    assert results["bell"].answer_correct is True and results["bell"].abstained is False
    assert results["none"].abstained is True and results["none"].answer_correct is None


def test_cli_prints_the_table_and_writes_json(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    assert main(["eval", str(write(tmp_path, LINES)), "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["mode", "questions", "n", "R@1", "R@3", "R@5", "R@10", "MRR@10"]
    assert lines[1].split()[:3] == ["keyword", "all", "4"]
    assert [r["id"] for r in json.loads(out.read_text())] == ["bell", "wrongfile", "none", "c1", "c2"]


def test_answering_questions_leaves_the_users_threads_alone(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--thread", "mine", "Who cast the Quillmarsh tide bell?"]) == 0
    capsys.readouterr()
    before = [(t.id, t.title, t.messages) for t in Assistant(env).threads()]
    assert main(["eval", str(write(tmp_path, LINES)), "--answers"]) == 0
    assert "answers containing an expected answer" in capsys.readouterr().out
    assert (
        [(t.id, t.title, t.messages) for t in Assistant(env).threads()]
        == before
        == [("mine", "Who cast the Quillmarsh tide bell?", 2)]
    )
    assert main(["threads"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["id", "mine"]


def test_keyword_evaluation_works_with_ollama_down(
    env: Settings,
    tmp_path: Path,
    unreachable_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ingest"]) == 0
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    capsys.readouterr()
    assert main(["eval", str(write(tmp_path, LINES[:3]))]) == 0
    out, err = capsys.readouterr()
    recall, refusals = out.split("\n\n")[:2]
    assert [line.split()[0] for line in recall.splitlines()[1:]] == ["keyword"]
    assert [line.split()[0] for line in refusals.splitlines()[2:]] == ["keyword"]
    assert "vector and hybrid skipped: the embedding model did not answer" in err


def test_predicted_abstentions_are_the_agents_own_decisions(assistant: Assistant, tmp_path: Path) -> None:
    results = evaluate(assistant, load_questions(write(tmp_path, LINES)), answers=True)
    mode, min_score = assistant.settings.retrieval_mode, evidence_floor(assistant)  # calibrated, as the agent's
    for result in results:
        predicted = abstention_summary([result], mode, min_score)
        refused = predicted["refused_answerable" if result.answerable else "refused_unanswerable"] == 1.0
        assert refused == result.abstained, result.id
    shares = abstention_summary(results, "keyword", min_score)
    assert shares["refused_unanswerable"] == 1.0 and shares["refused_answerable"] == 0.0  # "population of Peru"


def test_sweep_builds_throwaway_indexes_and_leaves_the_live_one_alone(assistant: Assistant, tmp_path: Path) -> None:
    live = assistant.require_index()
    before = (sorted(live.files), [chunk.id for chunk in stored(live)], live.engine.version)
    folder = sorted(p.name for p in assistant.settings.home.iterdir())
    result = sweep(
        assistant,
        load_questions(write(tmp_path, LINES)),
        chunk_sizes=(80, 400),
        overlaps=(0, 20),
        keyword_weights=(0.0, 1.0),
        min_scores=(0.2, 0.9),
    )
    sizes = {(r["chunk_size"], r["overlap"]): r["chunks"] for r in result.chunking}
    assert list(sizes) == [(80, 0), (80, 20), (400, 0), (400, 20)]
    assert sizes[(80, 0)] > sizes[(400, 0)]
    assert {r["mode"] for r in result.chunking} == {"keyword", "vector", "hybrid"}
    assert [r["keyword_weight"] for r in result.fusion] == [0.0, 1.0]
    assert {(r["mode"], r["min_score"]) for r in result.abstention} >= {("vector", 0.2), ("hybrid", 0.9)}
    reloaded = assistant.require_index()
    assert (sorted(reloaded.files), [chunk.id for chunk in stored(reloaded)], reloaded.engine.version) == before
    assert sorted(p.name for p in assistant.settings.home.iterdir()) == folder


def test_sweep_builds_only_from_files_still_on_disk(assistant: Assistant, tmp_path: Path) -> None:
    assistant.require_index()
    (assistant.settings.docs_dir / "notes" / "market.txt").unlink()  # indexed, then deleted
    result = sweep(assistant, load_questions(write(tmp_path, LINES[:1])), chunk_sizes=(400,), overlaps=(0,))
    assert result.chunking[0]["chunks"] == 2  # harbour.md's two articles; no error for the missing file


def test_sweep_reuses_a_retrieval_only_baseline_but_not_an_answered_one(
    assistant: Assistant, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    questions = load_questions(write(tmp_path, LINES))
    plan = {"chunk_sizes": (400,), "overlaps": (0,), "keyword_weights": (0.5,), "min_scores": (0.5,)}
    retrieval_only = evaluate(assistant, questions)
    rewrites = len(fake_ollama.chat_prompts)
    sweep(assistant, questions, baseline=retrieval_only, **plan)
    assert len(fake_ollama.chat_prompts) == rewrites  # the follow-up was not rewritten again
    answered = evaluate(assistant, questions[3:], answers=True)
    rewrites = len(fake_ollama.chat_prompts)
    assert sweep(assistant, questions[3:], baseline=answered, **plan).baseline is not answered
    assert len(fake_ollama.chat_prompts) == rewrites + 1  # its history is the expected answers instead


def test_sweep_needs_the_embedding_model(
    env: Settings, tmp_path: Path, unreachable_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert main(["ingest"]) == 0
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    capsys.readouterr()
    assert main(["eval", str(write(tmp_path, LINES[:3])), "--sweep"]) == 1
    assert "A sweep needs the embedding model" in capsys.readouterr().err


def test_cli_sweep_prints_its_tables_marking_the_current_values(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval", str(write(tmp_path, LINES)), "--sweep", "--chunk-sizes", "300,800", "--overlaps", "50"]
    assert main([*args, "--keyword-weights", "0.5", "--min-scores", "0.5"]) == 0
    out = capsys.readouterr().out
    for heading in ("Would abstain", "Chunk size and overlap", "Hybrid keyword weight", "Abstention thresholds"):
        assert heading in out
    assert any(line.split()[:2] == ["800*", "50*"] for line in out.splitlines())


def test_a_sweep_list_that_is_not_numbers_is_a_usage_error(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["eval", str(write(tmp_path, LINES[:1])), "--sweep", "--chunk-sizes", "big"])
    assert raised.value.code == 2
    assert "'big' is not a comma-separated list of numbers" in capsys.readouterr().err


def test_an_overlap_as_big_as_the_chunk_is_refused_before_anything_runs(
    env: Settings, tmp_path: Path, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest"]) == 0
    requests = len(fake_ollama.requests)
    args = ["eval", str(write(tmp_path, LINES[:1])), "--sweep", "--chunk-sizes", "100", "--overlaps", "100"]
    assert main(args) == 1
    assert "overlap must be smaller than the size" in capsys.readouterr().err
    assert len(fake_ollama.requests) == requests  # nothing was searched or built


def test_the_shipped_question_file_loads() -> None:
    questions = load_questions(Path(__file__).parents[1] / "rag_data" / "eval.jsonl")
    assert len(questions) >= 150
    follow_ups = [q for q in questions if q.turn]
    assert len(follow_ups) >= 40 and all(q.standalone for q in follow_ups)
    assert {"pronoun", "ellipsis", "previous-answer", "topic-shift"} <= {q.kind for q in follow_ups}
    assert sum(1 for q in questions if not q.answers) >= 20
    assert sum(1 for q in questions if q.kind == "collection") >= 5


def test_the_rewrites_not_searched_are_counted_with_their_reason(
    env: Settings, fake_ollama: FakeOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ollama.respond(lambda body: "I couldn't find this in your documents." if rewrite_request(body) else None)
    assert main(["eval", str(write(tmp_path, LINES))]) == 0
    assert "follow-up rewrites not searched: 1 of 1 (a refusal 1)" in capsys.readouterr().out
