"""Writes: storing validated records, set-based.

Every function takes records that passed `ingest.validation` and stores
them with bulk upserts keyed by id, so storing the same record twice, or
replaying a whole topic, changes nothing: rows equal to what is stored are
not written at all, and only changes that matter to others are announced
(`ingest.hooks`: events written, bets changed), with the affected ids.

A coupon whose user or events are not stored yet is parked (`ingest.parking`)
and stored by whichever later batch brings what it waits for. Every path
here that stores or releases a coupon claims its parked row first
(`parking.claim`), before it writes any coupon row.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import transaction

from ingest import parking
from ingest.hooks import bets_changed, events_written
from ingest.models import Coupon, Event, ParticipantPair, Selection, User

USER_FIELDS = ["birth_year", "country", "currency", "gender", "registration_date"]
EVENT_FIELDS = ["begin_timestamp", "end_timestamp", "country", "league", "sport", "participants_id"]
COUPON_FIELDS = ["user_id", "stake", "timestamp"]


@dataclass
class StoreResult:
    """What one call stored: ids written per kind, and coupons parked or released."""

    users: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    coupons: list[int] = field(default_factory=list)
    parked: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)


def _last_per_id(records: Iterable[dict]) -> list[dict]:
    """One record per id, the last one winning, as Kafka's order says it should."""
    by_id = {}
    for record in records:
        by_id[record["id"]] = record
    return list(by_id.values())


def _changed(model, rows: list, fields: list[str]) -> list:
    """The rows that are new or differ from what is stored, so replays write nothing."""
    stored = {
        values[0]: values[1:]
        for values in model.objects.filter(pk__in=[row.pk for row in rows]).values_list(
            "pk", *fields
        )
    }
    return [
        row for row in rows if stored.get(row.pk) != tuple(getattr(row, name) for name in fields)
    ]


def _upsert(model, rows: list, fields: list[str]) -> list[int]:
    rows = _changed(model, rows, fields)
    if rows:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=fields,
        )
    return [row.pk for row in rows]


@transaction.atomic
def users_upsert(*, records: Iterable[dict]) -> list[int]:
    """Store users; returns the ids that were new or changed."""
    rows = [User(**record) for record in _last_per_id(records)]
    return _upsert(User, rows, USER_FIELDS)


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
    records = _last_per_id(records)
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
    written = _upsert(Event, rows, EVENT_FIELDS)
    if written:
        events_written.send(sender=Event, event_ids=written)
    return written


def _selection_sets(coupon_ids: list[int]) -> dict[int, set[tuple[int, object]]]:
    sets: dict[int, set] = {coupon_id: set() for coupon_id in coupon_ids}
    for coupon_id, event_id, odds in Selection.objects.filter(coupon_id__in=coupon_ids).values_list(
        "coupon_id", "event_id", "odds"
    ):
        sets[coupon_id].add((event_id, odds))
    return sets


def _store_coupons(records: list[dict]) -> list[int]:
    """Upsert coupons whose references all exist, with exactly their selections."""
    # In id order, so two transactions writing the same coupons lock them in one order.
    records = sorted(_last_per_id(records), key=lambda r: r["id"])
    if not records:
        return []
    rows = [
        Coupon(id=r["id"], user_id=r["user_id"], stake=r["stake"], timestamp=r["timestamp"])
        for r in records
    ]
    wanted = {r["id"]: {(s["event_id"], s["odds"]) for s in r["selections"]} for r in records}
    stored_selections = _selection_sets(list(wanted))
    changed_coupons = {row.pk for row in _changed(Coupon, rows, COUPON_FIELDS)}
    changed_selections = {pk for pk, pairs in wanted.items() if stored_selections[pk] != pairs}
    changed = changed_coupons | changed_selections
    if not changed:
        return []
    owners = {row.pk: row.user_id for row in rows}
    previous_owners = {
        user_id
        for pk, user_id in Coupon.objects.filter(pk__in=changed_coupons).values_list(
            "pk", "user_id"
        )
        if user_id != owners[pk]
    }
    Coupon.objects.bulk_create(
        [row for row in rows if row.pk in changed],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["user", "stake", "timestamp"],
    )
    Selection.objects.bulk_create(
        [
            # In the order the coupon lists them, so they read back that way.
            Selection(coupon_id=r["id"], event_id=s["event_id"], odds=s["odds"])
            for r in records
            if r["id"] in changed_selections
            for s in r["selections"]
        ],
        update_conflicts=True,
        unique_fields=["coupon", "event"],
        update_fields=["odds"],
    )
    stale = [
        (pk, event_id)
        for pk in changed_selections
        for event_id, _ in stored_selections[pk]
        if event_id not in {e for e, _ in wanted[pk]}
    ]
    if stale:
        stale = set(stale)
        stale_ids = [
            selection_id
            for selection_id, coupon_id, event_id in Selection.objects.filter(
                coupon_id__in={pk for pk, _ in stale}
            ).values_list("id", "coupon_id", "event_id")
            if (coupon_id, event_id) in stale
        ]
        Selection.objects.filter(id__in=stale_ids).delete()
    changed_ids = sorted(changed)
    # A coupon that moved to another user changes its previous owner's answer too.
    bettors = {owners[pk] for pk in changed} | previous_owners
    reselected = {
        event_id
        for pk in changed_selections
        for event_id in {e for e, _ in wanted[pk]} | {e for e, _ in stored_selections[pk]}
    }
    bets_changed.send(sender=Coupon, user_ids=sorted(bettors), event_ids=sorted(reselected))
    return changed_ids


class MissingReferences(Exception):
    """A coupon whose user or events are not stored, refused rather than parked."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors  # by field, as `reference_errors` words them


@transaction.atomic
def coupon_put(*, record: dict) -> bool:
    """Store one coupon whose user and events must already exist; True when it is new.

    The data API's path: a coupon with a missing reference raises
    `MissingReferences` (a 400 naming the field) instead of waiting parked.
    """
    claimed = parking.claim([record["id"]])  # a parked older version, not released meanwhile
    errors = parking.reference_errors([record]).get(record["id"])
    if errors:
        raise MissingReferences(errors)
    existed = Coupon.objects.filter(pk=record["id"]).exists()
    _store_coupons([record])
    parking.unpark(claimed)
    return not existed


@transaction.atomic
def coupons_store(*, records: Iterable[dict], source: str | Mapping[int, str] = "") -> StoreResult:
    """Store coupons whose user and events exist; park the others until they do.

    `source` says where the records came from (a consumer passes each
    coupon's 'topic/partition/offset' by id), for the dead letter of a
    coupon that waits too long.
    """
    records = _last_per_id(records)
    # Claimed before anything is written: a release of an older parked version
    # finishes first (and is then stored over), or finds the row gone or replaced.
    claimed = parking.claim(r["id"] for r in records)
    missing = parking.missing_references(records)
    ready = [r for r in records if r["id"] not in missing]
    waiting = [r for r in records if r["id"] in missing]
    result = StoreResult(coupons=_store_coupons(ready), parked=missing)
    parking.unpark(r["id"] for r in ready if r["id"] in claimed)
    if waiting:
        parking.park(waiting, missing, source)
    return result


@transaction.atomic
def release_parked(
    *, user_ids: Iterable[int] = (), event_ids: Iterable[int] = (), everything=False
) -> list[int]:
    """Store parked coupons that no longer lack anything; returns the coupon ids stored.

    With `user_ids`/`event_ids`, only coupons waiting for those rows are
    checked (the common case, right after they were stored); `everything`
    re-checks all parked coupons, which consumers do now and then to catch
    arrivals committed concurrently by another process.
    """
    candidates = parking.waiting_for(user_ids=user_ids, event_ids=event_ids, everything=everything)
    return _release(parking.claim(candidates)) if candidates else []


def _release(claimed: dict[int, dict]) -> list[int]:
    """Store the claimed parked coupons that lack nothing now; the others wait for less.

    Readiness and what is stored come from the claimed payloads: one read
    before the claim may have been replaced by a newer version, or stored.
    """
    if not claimed:
        return []
    records = parking.valid_records(claimed.values())
    missing = parking.missing_references(records)
    ready = [r for r in records if r["id"] not in missing]
    _store_coupons(ready)
    ready_ids = [r["id"] for r in ready]
    parking.unpark(ready_ids)
    parking.record_missing(missing)  # what the others still lack has shrunk
    return ready_ids


@transaction.atomic
def store_batch(
    *,
    users: Iterable[dict] = (),
    events: Iterable[dict] = (),
    coupons: Iterable[dict] = (),
    source: str | Mapping[int, str] = "",
) -> StoreResult:
    """Store a consumed batch of any kinds in one transaction, releasing what it unblocks."""
    users, events, coupons = list(users), list(events), list(coupons)
    stored_users = users_upsert(records=users)
    stored_events = events_upsert(records=events)
    candidates = []
    if users or events:
        candidates = parking.waiting_for(
            user_ids=[u["id"] for u in users], event_ids=[e["id"] for e in events]
        )
    released = []
    if candidates:
        # One claim, in id order, for the parked coupons the batch may release and those
        # it brings again: two batches never each hold some of them and wait for others.
        claimed = parking.claim([*candidates, *(c["id"] for c in coupons)])
        released = _release({pk: claimed[pk] for pk in candidates if pk in claimed})
    result = coupons_store(records=coupons, source=source) if coupons else StoreResult()
    result.users, result.events, result.released = stored_users, stored_events, released
    return result
