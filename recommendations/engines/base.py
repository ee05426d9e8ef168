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
    # The same for every user in this situation (cold start): served from
    # the ranking on read instead of stored once per user, so a change of
    # the most popular events rewrites nothing.
    shared: bool = False


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


Row = tuple[str, datetime, datetime, int]  # sport key, begin, end, popularity


def _ranked(rows: dict[int, Row]) -> list[int]:
    return [pk for pk, _ in sorted(rows.items(), key=lambda it: (-it[1][3], it[1][1], it[0]))]


def _current_rows(
    now: datetime,
    sport_key: str | None = None,
    ids: list[int] | None = None,
    limit: int | None = None,
) -> dict[int, Row]:
    events = Event.objects.filter(end_timestamp__gt=now)
    if sport_key is not None:
        events = events.filter(sport_key=sport_key)
    if ids is not None:
        events = events.filter(id__in=ids)
    events = events.annotate(popularity=Count("selections"))
    events = events.order_by("-popularity", "begin_timestamp", "id")[:limit] if limit else events
    rows = events.values_list("id", "sport_key", "begin_timestamp", "end_timestamp", "popularity")
    return {pk: tuple(rest) for pk, *rest in rows}


def _snapshot_rows(
    now: datetime, sport_key: str | None = None, limit: int | None = None
) -> dict[int, Row]:
    from recommendations.models import RankingSnapshot

    rows = RankingSnapshot.objects.filter(end_timestamp__gt=now)
    if sport_key is not None:
        rows = rows.filter(sport_key=sport_key)
    if limit:
        rows = rows.order_by("-popularity", "begin_timestamp", "event_id")[:limit]
    values = rows.values_list(
        "event_id", "sport_key", "begin_timestamp", "end_timestamp", "popularity"
    )
    return {pk: tuple(rest) for pk, *rest in values}


class Ranking:
    """Open events ranked: most selections (by everyone) first, then soonest start, then id.

    `rows` holds each event's ranking inputs, so two rankings can be compared
    and the snapshot written. Rows load lazily: one sport's events when only
    that sport is asked for (a single user's rebuild on read), all of them
    once anything else is.
    """

    def __init__(self, rows: dict[int, Row] | None = None, *, source=None):
        # `source(sport_key, limit)` gives the rows of one sport (all for None),
        # the best `limit` of them when a limit is given.
        self._rows, self._source = None, source
        self._one_sport: dict[tuple[str | None, int | None], list[int]] = {}
        if rows is not None:
            self._index(rows)

    def _index(self, rows: dict[int, Row]) -> None:
        self._rows = rows
        self.overall: list[int] = _ranked(rows)
        self.by_sport: dict[str, list[int]] = {}
        for event_id in self.overall:
            self.by_sport.setdefault(rows[event_id][0], []).append(event_id)

    @classmethod
    def current(cls, now: datetime) -> "Ranking":
        """The ranking now, popularity counted in SQL (when first needed)."""
        return cls(source=lambda sport_key, limit: _current_rows(now, sport_key, limit=limit))

    @classmethod
    def snapshot(cls, now: datetime) -> "Ranking":
        """The ranking stored answers were computed from (`RankingSnapshot`), loaded lazily."""
        return cls(source=lambda sport_key, limit: _snapshot_rows(now, sport_key, limit))

    def updated(self, touched: set[int], now: datetime) -> "Ranking":
        """This ranking with the `touched` events counted again (the only ones that changed).

        What a refresh uses instead of counting every event's selections:
        only events that were written or whose selections changed can rank
        differently than in the snapshot.
        """
        rows = {pk: row for pk, row in self.rows.items() if pk not in touched}
        touched = sorted(touched)
        for start in range(0, len(touched), 5000):
            rows.update(_current_rows(now, ids=touched[start : start + 5000]))
        return Ranking(rows)

    @property
    def rows(self) -> dict[int, Row]:
        self._load()
        return self._rows

    def _load(self) -> None:
        if self._rows is None:
            self._index(self._source(None, None))

    def events(self, sport_key: str | None, limit: int | None = None) -> list[int]:
        """The ranked open events of one sport, or of all sports for None.

        With `limit`, at least the first `limit` of them; before everything
        is loaded, only those are read (an answer served on read needs no more).
        """
        if self._rows is None and (sport_key is not None or limit):
            key = (sport_key, limit)
            if key not in self._one_sport:
                self._one_sport[key] = _ranked(self._source(sport_key, limit))
            return self._one_sport[key]
        self._load()
        return self.overall if sport_key is None else self.by_sport.get(sport_key, [])

    def scopes(self) -> set[str | None]:
        """Every sport, and None for all sports together."""
        self._load()
        return {*self.by_sport, None}


def first_difference(before: list[int], after: list[int]) -> int | None:
    """The first index where two rankings differ, or None if they are equal."""
    for index, (old, new) in enumerate(zip(before, after, strict=False)):
        if old != new:
            return index
    return None if len(before) == len(after) else min(len(before), len(after))


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
        return Ranking.current(self.now)

    @abstractmethod
    def recommend(self, user_ids: Sequence[int]) -> Iterator[Answer]:
        """One answer per user id (existing users; a chunk small enough to hold)."""

    def affected_users(self, changes: Changes, previous: Ranking) -> set[int] | None:
        """Users whose answer `changes` can alter; None means everyone.

        `previous` is the ranking the stored answers were computed from;
        `self.ranking` is the ranking now.

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
