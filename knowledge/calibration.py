"""How high a cosine means "relevant" for this embedder on these documents, measured rather than assumed.

A cosine of 0.5 is a close match for one embedding model and noise for another (on the
sample documents, WordLlama's off-topic questions reach 0.27 and the fake server's hashed
words 0.19). So the evidence threshold is calibrated: a fixed set of questions that no
personal document collection answers (:data:`HELD_ASIDE` — routers, capitals, recipes) is
embedded once, as questions, with the index's own embedder; each one's best cosine against
the indexed chunks is what an unrelated question scores *here*. The threshold is a high
percentile of those scores (:data:`PERCENTILE`), so an unrelated question falls below it
whatever the model and whatever the corpus, while a question the documents answer lies above.

The question vectors are saved with the index (``calibration.npy`` in each generation), so
calibrating costs one embedding request per index, not per question; the scores are
recomputed, by one matrix product, whenever the chunks change.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

PERCENTILE = 90.0
"""The share of unrelated questions whose best cosine must fall below the threshold (chosen in the README)."""

HELD_ASIDE = (
    "How do I reset my wifi router password?",
    "What is the capital city of Australia?",
    "How many calories are in a banana?",
    "Which programming language should a beginner learn first?",
    "How long should I knead bread dough?",
    "What is the boiling point of mercury?",
    "Who wrote the novel Anna Karenina?",
    "How do I fix a flat tyre on a mountain bike?",
    "What are the early symptoms of influenza?",
    "How is a personal credit score calculated?",
    "What is the highest mountain in Africa?",
    "How do I install Python on a Windows laptop?",
    "What time zone does Tokyo use?",
    "How do mRNA vaccines work?",
    "What is the easiest way to learn guitar chords?",
    "How much does an electric car battery cost to replace?",
    "What does the abbreviation GDP stand for?",
    "How do I get a red wine stain out of a carpet?",
    "Who painted the ceiling of the Sistine Chapel?",
    "How long should I boil an egg for a runny yolk?",
    "What is the difference between a virus and a bacterium?",
    "How many players are on a rugby union team?",
    "What is the speed of light in a vacuum?",
    "How do I change the default browser on my phone?",
    "Which planet in the solar system has the most moons?",
    "How do I write a cover letter for a job application?",
    "What is a good temperature for a home freezer?",
    "When did the Berlin Wall fall?",
    "How do I convert Celsius to Fahrenheit?",
    "What is the plot of the opera Carmen?",
    "How often should I water a cactus?",
    "What is machine learning in simple terms?",
    "How do I cancel a streaming subscription?",
    "Which vitamins are found in spinach?",
    "How is a marathon distance defined?",
    "What are the rules of chess castling?",
    "How do solar panels turn sunlight into electricity?",
    "What is the population of Brazil?",
    "How do I make a sourdough starter?",
    "What causes the northern lights?",
)
"""Questions no personal document collection should answer, in many fields; written for ragchat."""

IDENTITY = hashlib.sha256("\n".join(HELD_ASIDE).encode()).hexdigest()[:16]
"""Names this list: vectors saved for another list are embedded again."""


@dataclass
class Calibration:
    """The held-aside questions' vectors (unit rows, in :data:`HELD_ASIDE` order) and what they score."""

    vectors: np.ndarray
    identity: str = IDENTITY

    def best_scores(self, chunks: np.ndarray) -> np.ndarray:
        """Return each held-aside question's best cosine against ``chunks`` (unit rows), sorted."""
        if not len(chunks) or not len(self.vectors):
            return np.zeros(0, dtype=np.float32)
        return np.sort(best_cosines(chunks, self.vectors))

    def threshold(self, chunks: np.ndarray, percentile: float = PERCENTILE) -> float | None:
        """Return the cosine that only ``100 - percentile`` % of unrelated questions reach here (None: no chunks).

        Just above the percentile (at four decimals), so that where most unrelated questions
        meet nothing at all (cosine 0 with a small corpus), another that meets nothing is no evidence.
        """
        return self.threshold_of(self.best_scores(chunks), percentile)

    @staticmethod
    def threshold_of(best: np.ndarray, percentile: float = PERCENTILE) -> float | None:
        """Return the threshold for these best cosines of the held-aside questions (see :meth:`threshold`)."""
        scores = np.sort(best)
        if not len(scores):
            return None
        return math.floor(float(np.percentile(scores, percentile)) * 10_000 + 1) / 10_000


def best_cosines(chunks: np.ndarray, questions: np.ndarray) -> np.ndarray:
    """Return each question's best cosine against ``chunks`` (unit rows both), -1 where there are no chunks."""
    best = np.full(len(questions), -1.0, dtype=np.float32)
    for start in range(0, len(chunks), 65536):  # bounded memory on a big index
        best = np.maximum(best, (chunks[start : start + 65536] @ questions.T).max(axis=0))
    return best


def embed_held_aside(embeddings: Embeddings) -> Calibration:
    """Embed :data:`HELD_ASIDE` as questions (in one request where the model can); return unit rows."""
    batch = getattr(embeddings, "embed_queries", None)
    vectors = batch(list(HELD_ASIDE)) if batch is not None else [embeddings.embed_query(q) for q in HELD_ASIDE]
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return Calibration(rows / np.where(norms == 0, 1, norms))
