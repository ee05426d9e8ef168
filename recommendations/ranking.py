"""The ranking every answer is made from: open events, most popular first.

Order: most selections (by everyone) first, then soonest start, then id.
Two rankings matter. The *current* one counts selections in SQL. The
*snapshot* (`RankingSnapshot`) is the ranking the stored answers were made
from; a refresh compares it with the snapshot updated by what changed, and
only the users whose lists reach where the two first differ are rebuilt.

Rows load lazily, one sport at a time, so a refresh touching one sport
reads that sport's events and nothing else.
"""

from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from ingest.models import Event
from recommendations.history import EVERY_BET, History

Row = tuple[str, datetime, datetime, int]  # sport key, begin, end, popularity
# (sport_key or None for every sport, ids or None for all, limit or None) -> rows
RowSource = Callable[[str | None, Collection[int] | None, int | None], dict[int, Row]]

ID_CHUNK = 5000  # ids per IN list: below every database's parameter limit


def chunks(ids: Iterable[int], size: int = ID_CHUNK) -> Iterable[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def ranked(rows: dict[int, Row]) -> list[int]:
    """Event ids in ranking order."""
    return [pk for pk, _ in sorted(rows.items(), key=lambda it: (-it[1][3], it[1][1], it[0]))]


def current_rows(
    now: datetime,
    sport_key: str | None = None,
    ids: Collection[int] | None = None,
    limit: int | None = None,
    history: History = EVERY_BET,
) -> dict[int, Row]:
    """Ranking rows of events open at `now`, popularity counted in SQL over `history`."""
    if ids is not None:
        rows = {}
        for chunk in chunks(ids):
            rows |= _current_rows(now, sport_key, chunk, limit, history)
        return rows
    return _current_rows(now, sport_key, None, limit, history)


def _current_rows(now, sport_key, ids, limit, history) -> dict[int, Row]:
    events = Event.objects.filter(end_timestamp__gt=now)
    if sport_key is not None:
        events = events.filter(sport_key=sport_key)
    if ids is not None:
        events = events.filter(id__in=ids)
    events = events.annotate(popularity=history.popularity())
    if limit:
        events = events.order_by("-popularity", "begin_timestamp", "id")[:limit]
    rows = events.values_list("id", "sport_key", "begin_timestamp", "end_timestamp", "popularity")
    return {pk: tuple(rest) for pk, *rest in rows}


def snapshot_rows(
    now: datetime,
    sport_key: str | None = None,
    ids: Collection[int] | None = None,
    limit: int | None = None,
    *,
    include_ended: bool = False,
) -> dict[int, Row]:
    """Ranking rows as the stored answers saw them (`RankingSnapshot`)."""
    from recommendations.models import RankingSnapshot

    found = {}
    for chunk in [None] if ids is None else chunks(ids):
        rows = RankingSnapshot.objects.all()
        if not include_ended:
            rows = rows.filter(end_timestamp__gt=now)
        if sport_key is not None:
            rows = rows.filter(sport_key=sport_key)
        if chunk is not None:
            rows = rows.filter(event_id__in=chunk)
        if limit:
            rows = rows.order_by("-popularity", "begin_timestamp", "event_id")[:limit]
        values = rows.values_list(
            "event_id", "sport_key", "begin_timestamp", "end_timestamp", "popularity"
        )
        found |= {pk: tuple(rest) for pk, *rest in values}
    return found


class Ranking:
    """Open events ranked, loaded lazily from a row source, with some rows replaced.

    `overrides` replaces rows of the source: an event id mapped to its row
    now, or to None when it left the ranking (ended, deleted). A refresh
    builds the ranking now as the snapshot with the changed events counted
    again (`updated`), instead of counting every event's selections.
    """

    def __init__(self, source: RowSource, *, overrides: dict[int, Row | None] | None = None):
        self._source = source
        self._overrides = overrides or {}
        self._all: dict[int, Row] | None = None
        self._by_scope: dict[tuple[str | None, int | None], list[int]] = {}
        self.changed_sports: set[str] | None = None  # None: unknown, compare every sport

    @classmethod
    def current(cls, now: datetime, history: History = EVERY_BET) -> "Ranking":
        """The ranking at `now`, popularity counted in SQL over `history` (when first needed)."""
        return cls(lambda sport, ids, limit: current_rows(now, sport, ids, limit, history))

    @classmethod
    def snapshot(cls, now: datetime, *, include_ended: bool = False) -> "Ranking":
        """The ranking the stored answers were made from.

        With `include_ended`, events that ended since keep their place: a
        refresh compares this with the ranking now to find whose lists they
        left.
        """
        return cls(
            lambda sport, ids, limit: snapshot_rows(
                now, sport, ids, limit, include_ended=include_ended
            )
        )

    def updated(self, touched: Collection[int], now: datetime) -> "Ranking":
        """This ranking with the `touched` events counted again (the only ones that changed)."""
        recounted = current_rows(now, ids=touched)
        overrides = {**self._overrides, **{pk: recounted.get(pk) for pk in touched}}
        result = Ranking(self._cached_source(), overrides=overrides)
        before = self.rows_of(touched)
        result.changed_sports = {row[0] for row in [*before.values(), *recounted.values()]}
        return result

    def _cached_source(self) -> RowSource:
        """The same source, sharing what this ranking has already loaded."""
        loaded: dict[tuple, dict[int, Row]] = {}
        source = self._source

        def cached(sport, ids, limit):
            if ids is not None:
                return source(sport, ids, limit)
            key = (sport, limit)
            if key not in loaded:
                loaded[key] = source(sport, ids, limit)
            return loaded[key]

        self._source = cached
        return cached

    @property
    def overrides(self) -> dict[int, Row | None]:
        """The rows this ranking replaced in its source (None: the event left the ranking)."""
        return self._overrides

    def rows_of(self, ids: Collection[int]) -> dict[int, Row]:
        """The rows of these events (those in the ranking)."""
        rows = self._source(None, ids, None) if ids else {}
        rows = {pk: row for pk, row in rows.items() if pk not in self._overrides}
        rows |= {pk: self._overrides[pk] for pk in ids if self._overrides.get(pk) is not None}
        return rows

    @property
    def rows(self) -> dict[int, Row]:
        """Every event's row (loads all of them)."""
        if self._all is None:
            self._all = self._apply(self._source(None, None, None), None)
        return self._all

    def _apply(self, rows: dict[int, Row], sport_key: str | None) -> dict[int, Row]:
        if not self._overrides:
            return rows
        rows = {pk: row for pk, row in rows.items() if pk not in self._overrides}
        for pk, row in self._overrides.items():
            if row is not None and (sport_key is None or row[0] == sport_key):
                rows[pk] = row
        return rows

    def events(self, sport_key: str | None, limit: int | None = None) -> list[int]:
        """The ranked open events of one sport, or of every sport for None.

        With `limit`, at least the first `limit` of them, reading no more.
        """
        key = (sport_key, limit)
        if key not in self._by_scope:
            if self._all is not None:
                rows = self.rows
                if sport_key is not None:
                    rows = {pk: row for pk, row in rows.items() if row[0] == sport_key}
                self._by_scope[key] = ranked(rows)
            else:
                wanted = limit + len(self._overrides) if limit else None
                rows = self._apply(self._source(sport_key, None, wanted), sport_key)
                self._by_scope[key] = ranked(rows)[:limit] if limit else ranked(rows)
        return self._by_scope[key]

    def scopes(self) -> set[str | None]:
        """Every sport, and None for all sports together (loads every row)."""
        return {row[0] for row in self.rows.values()} | {None}


def first_difference(before: list[int], after: list[int]) -> int | None:
    """The first index where two rankings differ, or None if they are equal."""
    for index, (old, new) in enumerate(zip(before, after, strict=False)):
        if old != new:
            return index
    return None if len(before) == len(after) else min(len(before), len(after))
