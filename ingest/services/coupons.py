"""Storing coupons with exactly their selections, and the one rule for whose bets changed.

`coupons_write` is the only function that writes coupon and selection
rows (deleting a coupon empties it through it first). It works out what a
change means to others once, here: the owners of the coupons written, the
previous owner of a coupon moved to another user, and every event of a
coupon whose selections changed, before or after
(`ingest.hooks.bets_changed`).

Every path here claims a coupon's parked row first (`parking.claim`,
ingest/parking.py), before it writes any coupon row. A new version of a
coupon whose user or events are not stored yet is parked (`coupons_store`,
the consumers' path) or refused (`coupon_put`, the data API's and the
admin coupon form's, which drops an older parked version); a change by
hand to a stored coupon (`coupons_rewrite`: a selection moved or deleted,
the coupon deleted) leaves a parked version parked.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.db import transaction

from betreco.sql import upsert_rows
from ingest import parking
from ingest.hooks import bets_changed
from ingest.models import Coupon, Selection
from ingest.services.upserts import last_per_id

COUPON_FIELDS = ["user_id", "stake", "timestamp"]


@dataclass
class StoreResult:
    """What one call stored: ids written per kind, and coupons parked or released."""

    users: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    coupons: list[int] = field(default_factory=list)
    parked: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """What `coupons_write` wrote: the coupons that changed, and which of them are new."""

    changed: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)


def coupons_write(records: list[dict]) -> Written:
    """Upsert coupons whose references all exist, with exactly their selections.

    Says which coupons changed and which of them are new. The caller has
    claimed their parked rows and runs this inside its transaction.
    """
    # In id order, so two transactions writing the same coupons lock them in one order.
    records = sorted(last_per_id(records), key=lambda r: r["id"])
    if not records:
        return Written()
    wanted = {r["id"]: _pairs(r) for r in records}
    stored = _stored(list(wanted))
    nothing = {**dict.fromkeys(COUPON_FIELDS), "selections": []}
    changed_coupons = {
        r["id"] for r in records if _fields(stored.get(r["id"], nothing)) != _fields(r)
    }
    stored_pairs = {pk: _pairs(stored.get(pk, nothing)) for pk in wanted}
    changed_selections = {pk for pk, pairs in wanted.items() if stored_pairs[pk] != pairs}
    changed = changed_coupons | changed_selections
    if not changed:
        return Written()
    owners = {r["id"]: r["user_id"] for r in records}
    previous_owners = {
        stored[pk]["user_id"]
        for pk in changed_coupons
        if pk in stored and stored[pk]["user_id"] != owners[pk]
    }
    upsert_rows(
        Coupon,
        ["id", "user", "stake", "timestamp"],
        [(r["id"], *_fields(r)) for r in records if r["id"] in changed],
    )
    upsert_rows(
        Selection,
        ["coupon", "event", "odds"],
        # In the order the coupon lists them, so they read back that way.
        [
            (r["id"], s["event_id"], s["odds"])
            for r in records
            if r["id"] in changed_selections
            for s in r["selections"]
        ],
        conflict=["coupon", "event"],
    )
    stale = set()
    reselected = set()
    for pk in changed_selections:
        wanted_events = {event_id for event_id, _ in wanted[pk]}
        stored_events = {event_id for event_id, _ in stored_pairs[pk]}
        stale |= {(pk, event_id) for event_id in stored_events - wanted_events}
        reselected |= wanted_events | stored_events
    _delete_stale_selections(stale)
    # A coupon that moved to another user changes its previous owner's answer too.
    bettors = {owners[pk] for pk in changed} | previous_owners
    bets_changed.send(sender=Coupon, user_ids=sorted(bettors), event_ids=sorted(reselected))
    return Written(changed=sorted(changed), created=sorted(set(owners) - set(stored)))


def _delete_stale_selections(stale: set[tuple[int, int]]) -> None:
    """Delete the selections of these (coupon, event) pairs."""
    if not stale:
        return
    stale_ids = [
        selection_id
        for selection_id, coupon_id, event_id in Selection.objects.filter(
            coupon_id__in={pk for pk, _ in stale}
        ).values_list("id", "coupon_id", "event_id")
        if (coupon_id, event_id) in stale
    ]
    Selection.objects.filter(id__in=stale_ids).delete()


def _stored(coupon_ids: list[int]) -> dict[int, dict]:
    """Stored coupons as records, the shape `coupons_write` takes, by id; one read (a LEFT JOIN).

    Selections in the order they were stored.
    """
    coupons: dict[int, dict] = {}
    rows = (
        Coupon.objects.filter(pk__in=coupon_ids)
        .order_by("pk", "selections__id")
        .values_list("pk", *COUPON_FIELDS, "selections__event_id", "selections__odds")
    )
    for pk, user_id, stake, timestamp, event_id, odds in rows:
        coupon = coupons.setdefault(
            pk,
            {
                "id": pk,
                "user_id": user_id,
                "stake": stake,
                "timestamp": timestamp,
                "selections": [],
            },
        )
        if event_id is not None:
            coupon["selections"].append({"event_id": event_id, "odds": odds})
    return coupons


def _fields(coupon: dict) -> tuple:
    return tuple(coupon[name] for name in COUPON_FIELDS)


def _pairs(coupon: dict) -> set[tuple[int, object]]:
    return {(s["event_id"], s["odds"]) for s in coupon["selections"]}


def coupons_rewrite(coupon_ids: Iterable[int], change: Callable[[dict], dict]) -> list[int]:
    """Store stored coupons changed by hand: each read as a record, passed through `change`.

    For changes that are not a new version of a coupon (a selection moved
    or deleted, or taken away with its event). Each is claimed before it
    is read, so a release storing a newer version finishes first and the
    change applies to that; a parked version is left parked, to be stored
    over this once what it lacks arrives. Runs in the caller's transaction.
    """
    coupon_ids = sorted(set(coupon_ids))
    parking.claim(coupon_ids)
    return coupons_write([change(coupon) for coupon in _stored(coupon_ids).values()]).changed


@transaction.atomic
def coupons_delete(*, coupon_ids: Iterable[int]) -> None:
    """Delete coupons with their selections.

    Each is first stored without its selections (`coupons_write` then says
    whose bets that changes: its owner's, and its events' popularity), then
    its row goes.
    """
    coupon_ids = list(coupon_ids)
    coupons_rewrite(coupon_ids, lambda coupon: {**coupon, "selections": []})
    Coupon.objects.filter(pk__in=coupon_ids).delete()


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
    written = coupons_write([record])
    parking.unpark(claimed)
    return record["id"] in written.created


@transaction.atomic
def coupons_store(*, records: Iterable[dict], source: str | Mapping[int, str] = "") -> StoreResult:
    """Store coupons whose user and events exist; park the others until they do.

    `source` says where the records came from (a consumer passes each
    coupon's 'topic/partition/offset' by id), for the dead letter of a
    coupon that waits too long.
    """
    records = last_per_id(records)
    # Claimed before anything is written: a release of an older parked version
    # finishes first (and is then stored over), or finds the row gone or replaced.
    claimed = parking.claim(r["id"] for r in records)
    missing = parking.missing_references(records)
    ready = [r for r in records if r["id"] not in missing]
    waiting = [r for r in records if r["id"] in missing]
    result = StoreResult(coupons=coupons_write(ready).changed, parked=missing)
    parking.unpark(r["id"] for r in ready if r["id"] in claimed)
    if waiting:
        parking.park(waiting, missing, source)
    return result
