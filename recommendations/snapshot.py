"""`RankingSnapshot`: the ranking the stored answers were made from, kept equal to it.

Written in the same transaction as the answers made from it, and only the
rows that differ, so a refresh touching one event writes one row.
"""

from collections.abc import Iterable

from django.db.models import F

from betreco.sql import db_datetime, execute_many, upsert_sql
from recommendations.models import RankingSnapshot, SnapshotVersion
from recommendations.ranking import Row, chunks

COLUMNS = ["event_id", "sport_key", "begin_timestamp", "end_timestamp", "popularity"]


def snapshot_write(*, rows: dict[int, Row], gone: Iterable[int] = ()) -> None:
    """Upsert these rows and delete the events that left the ranking; bumps the version."""
    if not SnapshotVersion.objects.filter(pk=1).update(version=F("version") + 1):
        SnapshotVersion.objects.create(pk=1, version=1)
    for chunk in chunks(gone):
        RankingSnapshot.objects.filter(event_id__in=chunk).delete()
    execute_many(
        upsert_sql(RankingSnapshot, COLUMNS),
        [
            (pk, sport_key, db_datetime(begin), db_datetime(end), popularity)
            for pk, (sport_key, begin, end, popularity) in rows.items()
        ],
    )


def snapshot_replace(*, previous: dict[int, Row], current: dict[int, Row]) -> None:
    """Make the snapshot equal `current`, writing only rows that differ from `previous`."""
    changed = {pk: row for pk, row in current.items() if previous.get(pk) != row}
    snapshot_write(rows=changed, gone=[pk for pk in previous if pk not in current])


def _ended(now):
    return RankingSnapshot.objects.filter(end_timestamp__lte=now)


def ended_events(now) -> list[int]:
    """Events in the snapshot that have ended since: they leave lists without any write."""
    return list(_ended(now).values_list("event_id", flat=True))


def ended_events_exist(now) -> bool:
    return _ended(now).exists()


def snapshot_version() -> int:
    """The snapshot's version now (0 before the first write)."""
    return SnapshotVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
