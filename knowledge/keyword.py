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
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import Tokenizer

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
        """Read an index written by :meth:`save`."""
        folder = Path(folder)
        index = cls([])
        index.size = int((folder / "size").read_text())
        if index.size:
            index.bm25 = bm25s.BM25.load(str(folder), show_progress=False)
            index.tokenizer.load_vocab(str(folder))
        return index
