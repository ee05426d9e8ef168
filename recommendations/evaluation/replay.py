"""Replaying history at a cut-off: what each engine would have answered then, scored after it.

At the cut-off T an engine sees what it would have seen then: the events
open at T (not yet ended) and the bets of the coupons placed before T
(`History(before=T)`, the same queries the live answers use, filtered).
Each user who selected, at or after T, an event they had not bet on
before T is evaluated against those events; no engine recommends an event
the user has already bet on, so those are left out. A user with no bet
before T is a cold start.

Reads are set-based: one query for what was selected after T, then a few
queries per chunk of users, never one per user.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ingest.models import Coupon, Selection
from recommendations.engines.base import open_bets
from recommendations.evaluation.contenders import EngineClass
from recommendations.evaluation.metrics import KS, EngineResult, Scores
from recommendations.history import History
from recommendations.ranking import chunks

CUT_OFF_PERCENTILE = 80
CHUNK_SIZE = 2000


class NothingToEvaluate(ValueError):
    pass


def default_cut_off() -> datetime:
    """The 80th percentile of coupon times (nearest rank): a fifth of the coupons come after."""
    count = Coupon.objects.count()
    if not count:
        raise NothingToEvaluate("no coupons are stored: there is no history to replay")
    index = math.ceil(count * CUT_OFF_PERCENTILE / 100) - 1
    times = Coupon.objects.order_by("timestamp", "id").values_list("timestamp", flat=True)
    return times[index]


@dataclass(frozen=True)
class Split:
    """History cut at `at`: per user evaluated, the events selected from then on, new to them."""

    at: datetime
    relevant: dict[int, set[int]]
    cold_start: set[int]  # users evaluated who had no bet before `at`

    @property
    def users(self) -> list[int]:
        return sorted(self.relevant)


def split_at(at: datetime) -> Split:
    """The users to evaluate at `at`, the events each is scored against, and the cold starts."""
    before = History(before=at)
    selected: dict[int, set[int]] = {}
    after = Selection.objects.filter(coupon__timestamp__gte=at).order_by()
    for user_id, event_id in after.values_list("coupon__user_id", "event_id"):
        selected.setdefault(user_id, set()).add(event_id)
    relevant: dict[int, set[int]] = {}
    cold_start: set[int] = set()
    for chunk in chunks(sorted(selected), CHUNK_SIZE):
        already = open_bets(chunk, at, before)
        bettors = set(
            before.selections()
            .filter(coupon__user_id__in=chunk)
            .order_by()
            .values_list("coupon__user_id", flat=True)
            .distinct()
        )
        for user_id in chunk:
            new = selected[user_id] - already.get(user_id, set())
            if new:
                relevant[user_id] = new
                if user_id not in bettors:
                    cold_start.add(user_id)
    return Split(at=at, relevant=relevant, cold_start=cold_start)


@dataclass(frozen=True)
class Evaluation:
    at: datetime
    users: int
    cold_start: int
    catalogue: int  # events open at `at`: what an engine could recommend
    engines: dict[str, EngineResult]


def evaluate(
    split: Split,
    contenders: dict[str, EngineClass],
    *,
    on_progress: Callable[[int], None] = lambda users: None,
) -> Evaluation:
    """Each engine's answers at the split's cut-off, scored; `on_progress(n)` after n users."""
    results, catalogue = {}, 0
    rankings: dict = {}
    for name, engine_class in contenders.items():
        engine = engine_class(per_user=max(KS), now=split.at, history=History(before=split.at))
        # Engines that rank alike (the same `ranking` method) share one ranking, loaded
        # whole in one query: counting popularity as of T is most of a replay's reads.
        ranking = rankings.get(engine_class.ranking)
        if ranking is None:
            ranking = rankings[engine_class.ranking] = engine.ranking()
            ranking.rows  # noqa: B018 (loads every row now, not one sport at a time)
        scores = Scores()
        for chunk in chunks(split.users, CHUNK_SIZE):
            for answer in engine.recommend(chunk, ranking):
                scores.add(
                    answer.event_ids,
                    split.relevant[answer.user_id],
                    cold_start=answer.user_id in split.cold_start,
                )
            on_progress(len(chunk))
        catalogue = len(ranking.events(None))
        results[name] = scores.result(catalogue)
    return Evaluation(
        at=split.at,
        users=len(split.relevant),
        cold_start=len(split.cold_start),
        catalogue=catalogue,
        engines=results,
    )
