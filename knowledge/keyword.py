"""Keyword search: BM25 over chunk texts, by bm25s, with English stopwords and stemming.

The index is rebuilt from all texts whenever the chunks change (bm25s indexes are not
incremental; rebuilding 100k chunks takes seconds, and only happens on ingest), then
saved beside the vectors. Scores come back for every row, so the caller can mask them
(source restriction) and fuse them with vector scores.

What it does not do: phrase queries, fuzzy matching, or languages other than English
stemming (other languages still match on exact words).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import Tokenizer
from pydantic import TypeAdapter

EMPTY_TOKEN = 0  # bm25s's id for "no token"; it must never score
logging.getLogger("bm25s").setLevel(logging.ERROR)


def make_tokenizer() -> Tokenizer:
    """Return the tokenizer shared by indexing and querying: lower-case words, stopwords out, stemmed."""
    return Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english").stemWord)


_TERMS = make_tokenizer()
# bm25s's English list is short (IDF already discounts common words in ranking); judging
# whether a passage covers a question also needs the question's own filler words gone.
QUESTION_WORDS = frozenset(
    "who whom whose what which when where why how did does do doing done was were been being has have had can "
    "could would should will shall may might must tell me about please you your i my we our us he she they them "
    "his her their there here many much any some get got know".split()
)


def terms(text: str) -> set[str]:
    """Return the stemmed content words of ``text``, without stopwords and question words.

    >>> sorted(terms("Who restored the lighthouses?"))
    ['lighthous', 'restor']
    """
    words = _TERMS.splitter(text.lower())
    skip = QUESTION_WORDS.union(_TERMS.stopwords)
    return {_TERMS.stemmer(word) for word in words if word not in skip}


def coverage(query: str, text: str) -> float:
    """Return the share of the query's content words that ``text`` contains (0 when it has none).

    >>> coverage("Who built the lighthouse?", "The lighthouse was built in 1871.")
    1.0
    """
    wanted = terms(query)
    return len(wanted & terms(text)) / len(wanted) if wanted else 0.0


class KeywordIndex:
    """BM25 scores for a query against every chunk, in row order."""

    def __init__(self, texts: list[str]) -> None:
        """Index ``texts`` (row ``n`` of the index is ``texts[n]``)."""
        self.size = len(texts)
        self.tokenizer = make_tokenizer()
        self.bm25 = bm25s.BM25()
        if texts:
            ids = self.tokenizer.tokenize(texts, return_as="ids", show_progress=False)
            self.bm25.index(self.tokenizer.to_tokenized_tuple(ids), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """Return the BM25 score of every row for ``query`` (zeros when no query word is known)."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        (ids,) = self.tokenizer.tokenize([query], return_as="ids", update_vocab=False, show_progress=False)
        ids = [i for i in ids if i != EMPTY_TOKEN]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(ids), dtype=np.float32)

    def rarity(self, words: Sequence[str]) -> list[float]:
        """Return each word's IDF in the indexed texts (BM25's formula); a word no text holds gets the highest.

        A word of several stems (``Wrayburn-Hale``) counts as its rarest; a stopword gets 0.

        >>> [round(x, 2) for x in KeywordIndex(["a lighthouse", "the lighthouse", "a ferry"]).rarity(["ferry", "the"])]
        [0.98, 0.0]
        """
        if self.size == 0:
            return [0.0] * len(words)
        per_word = [ids for (ids,) in (self.tokenizer.tokenize([w], return_as="ids", update_vocab=False,
                                                                show_progress=False) for w in words)]  # fmt: skip
        starts = np.asarray(self.bm25.scores["indptr"])
        counts = np.diff(starts)
        rarest = float(np.log((self.size + 0.5) / 0.5 + 1))
        idf = []
        for word, ids in zip(words, per_word, strict=True):
            stems = [i for i in ids if i != EMPTY_TOKEN]
            if not stems:  # a stopword says nothing; a word no text holds is as rare as can be
                idf.append(rarest if terms(word) else 0.0)
                continue
            df = min(int(counts[i]) if i < len(counts) else 0 for i in stems)
            idf.append(rarest if df == 0 else float(np.log((self.size - df + 0.5) / (df + 0.5) + 1)))
        return idf

    def save(self, folder: str | Path) -> None:
        """Write the index into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "size").write_text(str(self.size))
        if self.size:
            self.bm25.save(str(folder), show_progress=False)
            self.tokenizer.save_vocab(str(folder))

    @classmethod
    def load(cls, folder: str | Path) -> KeywordIndex:
        """Read an index written by :meth:`save`.

        Raises:
            ValueError: (or another read error) if the files are not a consistent index:
                arrays of the wrong shape or type, rows or words out of range, scores that
                are not finite.
        """
        folder = Path(folder)
        index = cls([])
        index.size = int((folder / "size").read_text())
        if index.size < 0:
            raise ValueError(f"the keyword index holds {index.size} rows")
        if index.size:
            index.bm25 = bm25s.BM25.load(str(folder), show_progress=False)
            index.tokenizer.load_vocab(str(folder))
            _check(index)
        return index


_VOCABULARY = TypeAdapter(dict[str, int])
_STEMS = TypeAdapter(dict[str, str])


def _check(index: KeywordIndex) -> None:
    # bm25s loads whatever the files hold; a query indexes these arrays directly, so an
    # inconsistency would surface later as a wrong score or an IndexError mid-search.
    scores = index.bm25.scores
    data, rows, starts = (np.asarray(scores[name]) for name in ("data", "indices", "indptr"))
    if scores.get("num_docs") != index.size:
        raise ValueError(f"the keyword index counts {scores.get('num_docs')} rows, not {index.size}")
    if data.ndim != 1 or rows.ndim != 1 or starts.ndim != 1 or len(starts) < 1:
        raise ValueError("the keyword arrays have the wrong shape")
    if data.dtype.kind != "f" or rows.dtype.kind not in "iu" or starts.dtype.kind not in "iu":
        raise ValueError("the keyword arrays have the wrong type")
    if len(data) != len(rows) or starts[0] != 0 or starts[-1] != len(data) or (np.diff(starts) < 0).any():
        raise ValueError("the keyword arrays do not agree with each other")
    if len(rows) and (rows.min() < 0 or rows.max() >= index.size):
        raise ValueError("the keyword index points at rows that do not exist")
    if not np.isfinite(data).all():
        raise ValueError("the keyword scores are not finite numbers")
    words = len(starts) - 1
    tokenizer = index.tokenizer
    for ids in (
        _VOCABULARY.validate_python(index.bm25.vocab_dict, strict=True),
        _VOCABULARY.validate_python(tokenizer.word_to_id, strict=True),
        _VOCABULARY.validate_python(tokenizer.stem_to_sid, strict=True),
    ):
        if any(not 0 <= i < words for i in ids.values()):
            raise ValueError("the keyword vocabulary names words the index does not hold")
    _STEMS.validate_python(tokenizer.word_to_stem, strict=True)
