"""The engine interface: what every recommendation engine answers.

`settings.RECOMMENDATION_ENGINE` names the class (a dotted path);
`load_engine()` builds it. Callers (the outbox, rebuilds, the read path) only use
this interface, so a new engine is a new class and a setting, nothing else.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from ingest.models import User
from recommendations.history import EVERY_BET, History
from recommendations.ranking import Ranking


@dataclass(frozen=True)
class Answer:
    """One user's recommendation as an engine computed it."""

    user_id: int
    event_ids: list[int]
    reason: str
    sport: str = ""
    sport_key: str = ""
    sport_selections: int = 0
    total_selections: int = 0
    # The same for every user in this situation (cold start): served from
    # the ranking on read instead of stored once per user, so a change of
    # the most popular events rewrites nothing.
    shared: bool = False


@dataclass
class Changes:
    """What committed transactions changed, as far as recommendations care.

    `users`: users whose own bets changed; `events`: events written (their
    sport or times may have changed); `popular`: events whose selections
    changed (so may their popularity). Ingest works these out as it writes
    and the outbox keeps them until a refresh handles them.
    """

    users: set[int] = field(default_factory=set)
    events: set[int] = field(default_factory=set)
    popular: set[int] = field(default_factory=set)

    def __bool__(self):
        return bool(self.users or self.events or self.popular)


def top_unbet(ranked: Iterable[int], bets: set[int], n: int) -> list[int]:
    """The first `n` events of `ranked` the user has not bet on."""
    picked = []
    for event_id in ranked:
        if len(picked) == n:
            break
        if event_id not in bets:
            picked.append(event_id)
    return picked


def open_bets(
    user_ids: Sequence[int], now: datetime, history: History = EVERY_BET
) -> dict[int, set[int]]:
    """The events open at `now` each user has bet on in `history` (one query for the chunk)."""
    bets: dict[int, set[int]] = {}
    rows = (
        history.selections()
        .filter(coupon__user_id__in=user_ids, event__end_timestamp__gt=now)
        .values_list("coupon__user_id", "event_id")
    )
    for user_id, event_id in rows:
        bets.setdefault(user_id, set()).add(event_id)
    return bets


class RecommendationEngine(ABC):
    """Computes answers for users, and says which users a change can affect.

    `now` is the time the answers are for (which events are open), `history`
    the bets they are made from: every stored one, unless the offline
    evaluation replays an earlier time (`History(before=now)`).
    """

    #: Stored with each answer, so an operator sees which engine made it.
    name = "engine"

    def __init__(
        self,
        *,
        per_user: int | None = None,
        now: datetime | None = None,
        history: History = EVERY_BET,
    ):
        self.per_user = settings.RECOMMENDATIONS_PER_USER if per_user is None else per_user
        self.now = now or timezone.now()
        self.history = history

    def ranking(self) -> Ranking:
        """The ranking now, for a full rebuild (popularity counted in SQL when first needed)."""
        return Ranking.current(self.now, self.history)

    @abstractmethod
    def recommend(self, user_ids: Sequence[int], ranking: Ranking) -> Iterator[Answer]:
        """One answer per user id (existing users; a chunk small enough to hold), from `ranking`."""

    def affected_users(
        self, changes: Changes, *, previous: Ranking, current: Ranking
    ) -> set[int] | None:
        """Users whose answer `changes` can alter; None means everyone.

        `previous` is the ranking the stored answers were made from,
        `current` the ranking now. The default is always correct; engines
        narrow it when they can.
        """
        return None


def everyone_if_none(affected: set[int] | None) -> Iterable[int]:
    """`affected_users`' answer as user ids: None means every user."""
    return User.objects.values_list("id", flat=True) if affected is None else affected


def load_engine(**kwargs) -> RecommendationEngine:
    """The engine `settings.RECOMMENDATION_ENGINE` names."""
    engine_class = import_string(settings.RECOMMENDATION_ENGINE)
    if not (isinstance(engine_class, type) and issubclass(engine_class, RecommendationEngine)):
        raise TypeError(
            f"RECOMMENDATION_ENGINE={settings.RECOMMENDATION_ENGINE!r} is not a "
            "RecommendationEngine subclass."
        )
    return engine_class(**kwargs)
