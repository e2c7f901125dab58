"""MatrixVectorStore: LangChain's standard VectorStore suite, plus what the suite does not check."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from knowledge.store import top_rows
from knowledge.vectorstore import MatrixVectorStore


class TestMatrixVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self) -> Iterator[VectorStore]:
        yield MatrixVectorStore(self.get_embeddings())


@pytest.fixture
def store() -> MatrixVectorStore:
    return MatrixVectorStore(VectorStoreIntegrationTests.get_embeddings())


def test_vectors_are_one_normalised_float32_matrix(store: MatrixVectorStore) -> None:
    store.add_vectors([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]], ["a", "b", "c"])
    assert store.vectors.dtype == np.float32 and store.vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(store.vectors, [[0.6, 0.8], [0.0, 1.0], [1.0, 0.0]])


def test_search_matches_brute_force_cosine(store: MatrixVectorStore) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(500, 32))
    store.add_vectors(vectors, [str(n) for n in range(500)])
    query = rng.normal(size=32)
    expected = np.argsort(-(vectors @ query) / np.linalg.norm(vectors, axis=1))[:10]
    rows, scores = store.search_vector(query, 10)
    assert rows.tolist() == expected.tolist()
    assert np.all(np.diff(scores) <= 0)


def test_mask_limits_the_rows_searched(store: MatrixVectorStore) -> None:
    store.add_vectors(np.eye(4), ["a", "b", "c", "d"])
    rows, _ = store.search_vector([1, 0, 0, 0], 3, mask=np.array([False, True, False, True]))
    assert sorted(rows.tolist()) == [1, 3]


def test_filter_callable_is_applied(store: MatrixVectorStore) -> None:
    store.add_texts(["foo", "bar", "baz"], [{"s": "x"}, {"s": "y"}, {"s": "x"}])
    docs = store.similarity_search("bar", k=3, filter=lambda d: d.metadata["s"] == "x")
    assert sorted(d.page_content for d in docs) == ["baz", "foo"]


def test_growing_past_capacity_keeps_every_row(store: MatrixVectorStore) -> None:
    for n in range(40):
        store.add_vectors([[float(n + 1), 1.0]], [f"t{n}"], ids=[f"id{n}"])
    assert len(store) == 40
    assert [d.page_content for d in store.get_by_ids(["id0", "id39"])] == ["t0", "t39"]


def test_delete_compacts_in_order(store: MatrixVectorStore) -> None:
    store.add_vectors(np.eye(3), ["a", "b", "c"], ids=["1", "2", "3"])
    store.delete(["2", "missing"])
    assert store.ids == ["1", "3"] and store.texts == ["a", "c"]
    np.testing.assert_allclose(store.vectors, [[1, 0, 0], [0, 0, 1]])


def test_save_and_load_round_trip(store: MatrixVectorStore, tmp_path: Path) -> None:
    store.add_texts(["foo", "bar"], [{"n": 1}, {"n": 2}], ids=["a", "b"])
    store.save(tmp_path)
    loaded = MatrixVectorStore.load(tmp_path, store.embedding)
    assert loaded.similarity_search("bar", k=1) == [Document("bar", metadata={"n": 2}, id="b")]
    np.testing.assert_array_equal(loaded.vectors, store.vectors)


def test_loading_parses_no_python_syntax(
    store: MatrixVectorStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPython 3.11's ``ast`` keeps its depth in shared state: a parse in another thread (LangChain
    inspecting a function, say) can make ``np.load``'s header parse fail with SystemError. Seen in
    ``test_concurrency``; here every parse fails, so a load must not need one."""
    import ast

    store.add_texts(["foo", "bar"], [{"n": 1}, {"n": 2}], ids=["a", "b"])
    store.save(tmp_path)

    def clash(*args: object, **kwargs: object) -> None:
        raise SystemError("AST constructor recursion depth mismatch (before=162, after=44)")

    with monkeypatch.context() as patched:  # undone before pytest, which parses too, reports a failure
        patched.setattr(ast, "parse", clash)
        loaded = MatrixVectorStore.load(tmp_path, store.embedding)
    np.testing.assert_array_equal(loaded.vectors, store.vectors)


def test_mismatched_dimension_is_refused(store: MatrixVectorStore) -> None:
    store.add_vectors([[1.0, 0.0]], ["a"])
    with pytest.raises(ValueError, match="dimension 3, the store holds 2"):
        store.add_vectors([[1.0, 0.0, 0.0]], ["b"])


def test_top_rows_breaks_ties_by_row_order() -> None:
    assert top_rows(np.array([0.5, 0.9, 0.5, 0.9]), 3).tolist() == [1, 3, 0]
