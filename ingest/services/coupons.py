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

from ingest import parking
from ingest.hooks import bets_changed
from ingest.models import Coupon, Selection
from ingest.services.upserts import changed_rows, last_per_id

COUPON_FIELDS = ["user_id", "stake", "timestamp"]


@dataclass
class StoreResult:
    """What one call stored: ids written per kind, and coupons parked or released."""

    users: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    coupons: list[int] = field(default_factory=list)
    parked: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)


def _selection_sets(coupon_ids: list[int]) -> dict[int, set[tuple[int, object]]]:
    sets: dict[int, set] = {coupon_id: set() for coupon_id in coupon_ids}
    for coupon_id, event_id, odds in Selection.objects.filter(coupon_id__in=coupon_ids).values_list(
        "coupon_id", "event_id", "odds"
    ):
        sets[coupon_id].add((event_id, odds))
    return sets


def coupons_write(records: list[dict]) -> list[int]:
    """Upsert coupons whose references all exist, with exactly their selections.

    Returns the ids of the coupons that changed. The caller has claimed
    their parked rows and runs this inside its transaction.
    """
    # In id order, so two transactions writing the same coupons lock them in one order.
    records = sorted(last_per_id(records), key=lambda r: r["id"])
    if not records:
        return []
    rows = [
        Coupon(id=r["id"], user_id=r["user_id"], stake=r["stake"], timestamp=r["timestamp"])
        for r in records
    ]
    wanted = {r["id"]: {(s["event_id"], s["odds"]) for s in r["selections"]} for r in records}
    stored_selections = _selection_sets(list(wanted))
    changed_coupons = {row.pk for row in changed_rows(Coupon, rows, COUPON_FIELDS)}
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


def _stored(coupon_ids: list[int]) -> dict[int, dict]:
    """Stored coupons as records, the shape `coupons_write` takes, by id."""
    coupons = {
        pk: {"id": pk, "user_id": user_id, "stake": stake, "timestamp": timestamp, "selections": []}
        for pk, user_id, stake, timestamp in Coupon.objects.filter(pk__in=coupon_ids).values_list(
            "pk", "user_id", "stake", "timestamp"
        )
    }
    for coupon_id, event_id, odds in (
        Selection.objects.filter(coupon_id__in=coupon_ids)
        .order_by("coupon_id", "id")
        .values_list("coupon_id", "event_id", "odds")
    ):
        coupons[coupon_id]["selections"].append({"event_id": event_id, "odds": odds})
    return coupons


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
    return coupons_write([change(coupon) for coupon in _stored(coupon_ids).values()])


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
    existed = Coupon.objects.filter(pk=record["id"]).exists()
    coupons_write([record])
    parking.unpark(claimed)
    return not existed


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
    result = StoreResult(coupons=coupons_write(ready), parked=missing)
    parking.unpark(r["id"] for r in ready if r["id"] in claimed)
    if waiting:
        parking.park(waiting, missing, source)
    return result
