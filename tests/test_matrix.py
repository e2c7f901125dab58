"""The vectors in memory: appended, masked and compacted in step with the database, searched exactly."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.matrix import VectorMatrix


def brute_force(rows: dict[int, tuple[int, np.ndarray]], query: np.ndarray, depth: int, files=None) -> list[int]:
    unit = query / np.linalg.norm(query)
    scored = [(float(v @ unit / np.linalg.norm(v)), k) for k, (f, v) in rows.items() if files is None or f in files]
    return [k for _, k in sorted(scored, key=lambda item: (-item[0], item[1]))[:depth]]


@pytest.mark.parametrize("seed", range(5))
def test_any_mix_of_appends_and_removals_searches_as_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix, held, next_key = VectorMatrix(), {}, 1
    if seed % 2:
        matrix.reserve(300)  # before the width is known: no room made yet
    for _ in range(40):
        if rng.random() < 0.6 or not held:
            count = int(rng.integers(1, 30))
            keys = np.arange(next_key, next_key + count, dtype=np.int64)
            files = rng.integers(0, 5, count).astype(np.int64)
            vectors = rng.standard_normal((count, 8)).astype(np.float32)
            matrix.append(keys, files, vectors)
            held.update({int(k): (int(f), v) for k, f, v in zip(keys, files, vectors, strict=True)})
            next_key += count
        else:
            gone = rng.choice(list(held), size=min(len(held), int(rng.integers(1, 20))), replace=False)
            matrix.remove(gone.tolist())
            for key in gone.tolist():
                held.pop(key)
        query = rng.standard_normal(8).astype(np.float32)
        assert len(matrix) == len(held) and matrix.keys() == set(held)
        keys, cosines = matrix.search(query, 7)
        assert keys.tolist() == brute_force(held, query, 7)
        assert np.all(np.diff(cosines) <= 1e-6)
        keys, _ = matrix.search(query, 5, files={1, 3})
        assert keys.tolist() == brute_force(held, query, 5, {1, 3})
    assert matrix.last_key == max(held)


def test_removed_rows_are_squeezed_out_once_a_quarter_is_masked() -> None:
    matrix = VectorMatrix()
    matrix.append(np.arange(1, 101), np.zeros(100, dtype=np.int64), np.eye(100, 4, dtype=np.float32) + 0.1)
    matrix.remove(range(1, 25))
    assert matrix._count == 100  # masked, not yet copied
    matrix.remove([25])
    assert matrix._count == 75 and len(matrix) == 75 and matrix.live().shape == (75, 4)


def test_an_empty_matrix_finds_nothing_and_a_wrong_width_is_refused() -> None:
    matrix = VectorMatrix()
    assert matrix.search(np.ones(4), 3)[0].size == 0
    matrix.append(np.array([1]), np.array([0]), np.ones((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension 3, the index holds 4"):
        matrix.append(np.array([2]), np.array([0]), np.ones((1, 3), dtype=np.float32))
