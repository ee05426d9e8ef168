"""Storing events and the participant pairs they share; deleting events."""

from collections.abc import Iterable

from django.db import transaction

from ingest.hooks import events_written
from ingest.models import Event, ParticipantPair, Selection
from ingest.services.selections import selections_remove
from ingest.services.upserts import last_per_id, upsert

EVENT_FIELDS = ["begin_timestamp", "end_timestamp", "country", "league", "sport", "participants_id"]


def _participant_pair_ids(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    ParticipantPair.objects.bulk_create(
        [ParticipantPair(home=home, away=away) for home, away in pairs], ignore_conflicts=True
    )
    stored = ParticipantPair.objects.filter(
        home__in={home for home, _ in pairs}, away__in={away for _, away in pairs}
    ).values_list("home", "away", "id")
    return {(home, away): pk for home, away, pk in stored if (home, away) in pairs}


@transaction.atomic
def events_upsert(*, records: Iterable[dict]) -> list[int]:
    """Store events and their participant pairs; returns the ids that were new or changed."""
    records = last_per_id(records)
    if not records:
        return []
    pair_ids = _participant_pair_ids({tuple(r["participants"]) for r in records})
    rows = [
        Event(
            id=r["id"],
            begin_timestamp=r["begin_timestamp"],
            end_timestamp=r["end_timestamp"],
            country=r["country"],
            league=r["league"],
            sport=r["sport"],
            participants_id=pair_ids[tuple(r["participants"])],
        )
        for r in records
    ]
    written = upsert(Event, rows, EVENT_FIELDS)
    if written:
        events_written.send(sender=Event, event_ids=written)
    return written


@transaction.atomic
def events_delete(*, event_ids: Iterable[int]) -> None:
    """Delete events with the selections on them.

    The coupons that held them are stored without them first (so their
    owners' bets are announced as changed), and the events are announced
    as deleted before they go, while what lists them can still be read.
    """
    event_ids = sorted(set(event_ids))
    selections_remove(Selection.objects.filter(event_id__in=event_ids))
    events_written.send(sender=Event, event_ids=event_ids, deleted=True)
    Event.objects.filter(pk__in=event_ids).delete()
