"""Ranking metrics at k, for one user's answer against the events the user went on to select.

Relevance is binary: an event is relevant if the user selected it after
the cut-off. Every metric is averaged over the users evaluated; a user
given no answer scores 0 on all of them.
"""

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

KS = (1, 3, 5, 10)
METRICS = ("hit_rate", "precision", "recall", "ndcg")


def hits_at(ranked: Sequence[int], relevant: Collection[int], k: int) -> int:
    """How many of the first `k` recommended events are relevant."""
    return sum(1 for event_id in ranked[:k] if event_id in relevant)


def ndcg_at(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Discounted gain of the hits in the first `k` over the best possible (1: all on top)."""
    gain = sum(
        1 / math.log2(position + 2)
        for position, event_id in enumerate(ranked[:k])
        if event_id in relevant
    )
    best = sum(1 / math.log2(position + 2) for position in range(min(k, len(relevant))))
    return gain / best if best else 0.0


def user_scores(ranked: Sequence[int], relevant: Collection[int]) -> dict[str, dict[int, float]]:
    """Every metric at every k for one user."""
    scores: dict[str, dict[int, float]] = {metric: {} for metric in METRICS}
    for k in KS:
        hits = hits_at(ranked, relevant, k)
        scores["hit_rate"][k] = 1.0 if hits else 0.0
        scores["precision"][k] = hits / k
        scores["recall"][k] = hits / len(relevant) if relevant else 0.0
        scores["ndcg"][k] = ndcg_at(ranked, relevant, k)
    return scores


@dataclass(frozen=True)
class EngineResult:
    """One engine's figures: each metric's mean at each k, coverage, and who it answered."""

    means: dict[str, dict[int, float]]
    coverage: float
    answered: int
    answered_cold_start: int


@dataclass
class Scores:
    """One engine's per-user metrics summed as answers come in, and what it recommended."""

    users: int = 0
    answered: int = 0
    answered_cold_start: int = 0
    sums: dict[str, dict[int, float]] = field(
        default_factory=lambda: {metric: dict.fromkeys(KS, 0.0) for metric in METRICS}
    )
    recommended: set[int] = field(default_factory=set)

    def add(self, ranked: Sequence[int], relevant: Collection[int], *, cold_start: bool) -> None:
        """Score one user's answer (`ranked`, best first) against the events they selected."""
        self.users += 1
        if ranked:
            self.answered += 1
            self.answered_cold_start += cold_start
        self.recommended.update(ranked[: max(KS)])
        for metric, by_k in user_scores(ranked, relevant).items():
            for k, value in by_k.items():
                self.sums[metric][k] += value

    def result(self, catalogue: int) -> EngineResult:
        """The means over the users scored; coverage: share of the `catalogue` ever recommended."""
        means = {
            metric: {k: total / self.users if self.users else 0.0 for k, total in by_k.items()}
            for metric, by_k in self.sums.items()
        }
        return EngineResult(
            means=means,
            coverage=len(self.recommended) / catalogue if catalogue else 0.0,
            answered=self.answered,
            answered_cold_start=self.answered_cold_start,
        )
