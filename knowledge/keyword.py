"""The words keyword search matches: lower-cased, accents folded, English stopwords out, stemmed.

One tokenizer for every engine. A chunk's text is turned into its :func:`stems` when it is
stored, and the storage engine's own full-text index (SQLite FTS5, Postgres ``tsvector``)
indexes those stems as plain words and ranks by BM25 (or ``ts_rank``). A query goes through
the same function, so "creme brulee" finds "crème brûlée" and "restoring" finds "restored"
on either engine, and the agent's word checks (:func:`terms`, :func:`coverage`) agree with
what the search matched.

What it does not do: phrase queries, fuzzy matching, or stemming of languages other than
English (their words still match when spelled alike).
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache

import Stemmer
from bm25s.tokenization import Tokenizer


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


_SKIP = QUESTION_WORDS.union(_TERMS.stopwords)


def fold(text: str) -> str:
    """Return ``text`` lower-cased with accents taken off letters.

    >>> fold("Crème Brûlée, Ærø")
    'creme brulee, ærø'
    """
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _TERMS.stemmer(word)


def stems(text: str) -> list[str]:
    """Return the words of ``text`` as keyword search indexes them: folded, stopwords out, stemmed, in order.

    >>> stems("The lighthouses were restored; la crème brûlée")
    ['lighthous', 'were', 'restor', 'la', 'creme', 'brule']
    """
    stopwords = _TERMS.stopwords
    return [_stem(word) for word in _TERMS.splitter(fold(text)) if word not in stopwords]


def terms(text: str) -> set[str]:
    """Return the stemmed content words of ``text``, without stopwords and question words.

    >>> sorted(terms("Who restored the lighthouses?"))
    ['lighthous', 'restor']
    """
    return {_stem(word) for word in _TERMS.splitter(fold(text)) if word not in _SKIP}


def idf(rows: int, holding: int) -> float:
    """Return how rare a word held by ``holding`` of ``rows`` texts is (BM25's IDF); a word none holds is rarest.

    >>> round(idf(3, 1), 2), round(idf(3, 0), 2)
    (0.98, 2.08)
    """
    if holding <= 0:
        return math.log((rows + 0.5) / 0.5 + 1)
    return math.log((rows - holding + 0.5) / (holding + 0.5) + 1)


BM25_K1, BM25_B = 1.2, 0.75
"""BM25's parameters, as SQLite's FTS5 uses them."""


def bm25(query: Sequence[str], chunk: Sequence[str], chunks: int, average: float, holding: Mapping[str, int]) -> float:
    """Return the BM25 score of a chunk's stems for the query's stems, computed as FTS5's ``bm25()`` does.

    ``chunks`` is how many chunks are indexed, ``average`` their mean length in stems, ``holding``
    how many hold each stem. A word held by half the chunks or more weighs almost nothing (1e-6).

    >>> round(bm25(["ferri"], ["ferri", "fare"], chunks=10, average=2.0, holding={"ferri": 1}), 3)
    1.846
    """
    counts = Counter(chunk)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(chunk) / average) if average else BM25_K1
    score = 0.0
    for word in dict.fromkeys(query):
        found = counts.get(word, 0)
        if found:
            score += bm25_weight(chunks, holding.get(word, 0)) * found * (BM25_K1 + 1) / (found + norm)
    return score


def bm25_weight(chunks: int, holding: int) -> float:
    """Return the IDF a word held by ``holding`` of ``chunks`` chunks weighs in BM25, as FTS5 computes it.

    >>> round(bm25_weight(10, 1), 3), bm25_weight(10, 6)
    (1.846, 1e-06)
    """
    weight = math.log((chunks - holding + 0.5) / (holding + 0.5))
    return weight if weight > 0 else 1e-6


def coverage(query: str, text: str) -> float:
    """Return the share of the query's content words that ``text`` contains (0 when it has none).

    >>> coverage("Who built the lighthouse?", "The lighthouse was built in 1871.")
    1.0
    """
    wanted = terms(query)
    return len(wanted & terms(text)) / len(wanted) if wanted else 0.0
