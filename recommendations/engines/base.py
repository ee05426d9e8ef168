"""The engine interface: what every recommendation engine answers.

`settings.RECOMMENDATION_ENGINE` names the class (a dotted path);
`load_engine()` builds it. Callers (services, the API, the command) only use
this interface, so a new engine is a new class and a setting, nothing else.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django.utils.module_loading import import_string

from ingest.models import Event, Selection


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


@dataclass
class Changes:
    """What a committed transaction changed, as far as recommendations care.

    `users`: users whose own bets changed (or who are new); `coupons`: coupons
    written (services resolve them into their users and events before asking
    an engine); `events`: events written (their sport or times may have
    changed); `popular`: events whose selections changed (so may their
    popularity).
    """

    users: set[int] = field(default_factory=set)
    coupons: set[int] = field(default_factory=set)
    events: set[int] = field(default_factory=set)
    popular: set[int] = field(default_factory=set)

    def __bool__(self):
        return bool(self.users or self.coupons or self.events or self.popular)


class Ranking:
    """Open events ranked: most selections (by everyone) first, then soonest start, then id."""

    def __init__(self, now: datetime):
        rows = (
            Event.objects.filter(end_timestamp__gt=now)
            .annotate(popularity=Count("selections"))
            .order_by()
            .values_list("id", "sport_key", "begin_timestamp", "popularity")
        )
        ranked = sorted(rows, key=lambda row: (-row[3], row[2], row[0]))
        self.overall: list[int] = [row[0] for row in ranked]
        self.sport_of: dict[int, str] = {row[0]: row[1] for row in ranked}
        self.by_sport: dict[str, list[int]] = {}
        for event_id, sport_key, _, _ in ranked:
            self.by_sport.setdefault(sport_key, []).append(event_id)
        self._positions: dict[str, dict[int, int]] = {}

    def events(self, sport_key: str | None) -> list[int]:
        """The ranked open events of one sport, or of all sports for None."""
        return self.overall if sport_key is None else self.by_sport.get(sport_key, [])

    def position(self, sport_key: str | None, event_id: int) -> int | None:
        key = "\0all" if sport_key is None else sport_key
        if key not in self._positions:
            self._positions[key] = {pk: i for i, pk in enumerate(self.events(sport_key))}
        return self._positions[key].get(event_id)


def top_unbet(ranked: Iterable[int], bets: set[int], n: int) -> list[int]:
    """The first `n` events of `ranked` the user has not bet on."""
    picked = []
    for event_id in ranked:
        if len(picked) == n:
            break
        if event_id not in bets:
            picked.append(event_id)
    return picked


def open_bets(user_ids: Sequence[int], now: datetime) -> dict[int, set[int]]:
    """The open events each user has bet on (one query for the whole chunk)."""
    bets: dict[int, set[int]] = {}
    rows = Selection.objects.filter(
        coupon__user_id__in=user_ids, event__end_timestamp__gt=now
    ).values_list("coupon__user_id", "event_id")
    for user_id, event_id in rows:
        bets.setdefault(user_id, set()).add(event_id)
    return bets


class RecommendationEngine(ABC):
    """Computes answers for users, and says which users a change can affect."""

    #: Stored with each answer, so an operator sees which engine made it.
    name = "engine"

    def __init__(self, *, per_user: int | None = None, now: datetime | None = None):
        self.per_user = settings.RECOMMENDATIONS_PER_USER if per_user is None else per_user
        self.now = now or timezone.now()

    @cached_property
    def ranking(self) -> Ranking:
        """Open events ranked by popularity, computed once per engine instance."""
        return Ranking(self.now)

    @abstractmethod
    def recommend(self, user_ids: Sequence[int]) -> Iterator[Answer]:
        """One answer per user id (existing users; a chunk small enough to hold)."""

    def affected_users(self, changes: Changes) -> set[int] | None:
        """Users whose answer `changes` can alter; None means everyone.

        The default is always correct; engines narrow it when they can.
        """
        return None


def load_engine(**kwargs) -> RecommendationEngine:
    """The engine `settings.RECOMMENDATION_ENGINE` names."""
    engine_class = import_string(settings.RECOMMENDATION_ENGINE)
    if not (isinstance(engine_class, type) and issubclass(engine_class, RecommendationEngine)):
        raise TypeError(
            f"RECOMMENDATION_ENGINE={settings.RECOMMENDATION_ENGINE!r} is not a "
            "RecommendationEngine subclass."
        )
    return engine_class(**kwargs)
