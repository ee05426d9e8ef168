"""Parked coupons: what a coupon lacks, parking it, claiming it, expiring it.

A coupon whose user or events are not stored yet waits in `ParkedCoupon`
(with one `MissingReference` per row it lacks) until a later batch brings
them (`ingest/services/release.py`) or it has waited too long (`expire`).

Claims. Consumers of different topics write at the same time, and on
PostgreSQL (READ COMMITTED) a payload read with a plain SELECT may be
replaced by a newer version parked over it, or made obsolete by a newer
version stored, before the reader acts on it: storing what it read would
put the older version over the newer one. So every path that stores,
releases or expires a parked coupon first claims its row (`claim`:
SELECT ... FOR UPDATE), and acts only on the payload the claim returned,
or on nothing when the row is gone. Claims lock parked rows in coupon id
order and come before any coupon row is written, so two consumers never
wait for each other in a cycle. Expiry claims with SKIP LOCKED: a row
another transaction is storing or replacing is not dead-lettered, so a
coupon is never both stored and dead-lettered, and two expirers never take
the same row. SQLite serializes writers, so there a claim is a plain read.
"""

import json
from collections.abc import Iterable, Mapping
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ingest.models import Event, MissingReference, ParkedCoupon, User
from ingest.validation import InvalidRecord, validate_records


def missing_references(records: list[dict]) -> dict[int, list[tuple[str, int]]]:
    """For each coupon that references a user or event not stored yet, what it lacks."""
    user_ids = {r["user_id"] for r in records}
    event_ids = {s["event_id"] for r in records for s in r["selections"]}
    known = _stored_references(user_ids, event_ids)
    missing = {}
    for record in records:
        lacks = [("user", record["user_id"])] + [
            ("event", s["event_id"]) for s in record["selections"]
        ]
        lacks = [reference for reference in lacks if reference not in known]
        if lacks:
            missing[record["id"]] = lacks
    return missing


def _stored_references(user_ids: set[int], event_ids: set[int]) -> set[tuple[str, int]]:
    """Which of these users and events are stored, as ("user"|"event", id)."""
    users = User.objects.filter(id__in=user_ids).values_list("id", flat=True)
    events = Event.objects.filter(id__in=event_ids).order_by().values_list("id", flat=True)
    return {("user", pk) for pk in users} | {("event", pk) for pk in events}


def reference_errors(records: list[dict]) -> dict[int, dict[str, list[str]]]:
    """Field-level errors of coupons whose user or events are not stored, by coupon id.

    For callers that refuse such coupons instead of parking them: the data
    API (a 400 naming `user_id` / `selections[i].event_id`) and load_dummy.
    """
    errors = {}
    for coupon_id, lacks in missing_references(records).items():
        record = next(r for r in records if r["id"] == coupon_id)
        positions = {s["event_id"]: i for i, s in enumerate(record["selections"])}
        errors[coupon_id] = {
            ("user_id" if kind == "user" else f"selections[{positions[ref_id]}].event_id"): [
                f"{kind.capitalize()} {ref_id} does not exist."
            ]
            for kind, ref_id in lacks
        }
    return errors


def claim(coupon_ids: Iterable[int]) -> dict[int, dict]:
    """Lock the parked rows of these coupons until the transaction ends; their payloads by id.

    Waits for a transaction that holds one of them, then returns what that
    transaction left: the newer payload, or no entry if it stored or
    expired the coupon. Call it inside a transaction.
    """
    return dict(
        ParkedCoupon.objects.filter(coupon_id__in=list(coupon_ids))
        .order_by("coupon_id")
        .select_for_update()
        .values_list("coupon_id", "payload")
    )


def valid_records(payloads: Iterable[dict]) -> list[dict]:
    """Claimed payloads validated again, for storing.

    They were valid when parked; one that no longer is (the rules changed)
    stays parked until expiry dead-letters it.
    """
    payloads = list(payloads)
    return [r for r in validate_records("coupons", payloads) if not isinstance(r, InvalidRecord)]


def waiting_for(
    *, user_ids: Iterable[int] = (), event_ids: Iterable[int] = (), everything=False
) -> list[int]:
    """Ids of parked coupons that wait for one of these rows, or, with `everything`,
    for any row stored by now (found in SQL, not by re-validating every payload).

    A plain read: the caller claims what it finds before acting on it.
    """
    if everything:
        arrived = Q(kind="user", ref_id__in=User.objects.values("id")) | Q(
            kind="event", ref_id__in=Event.objects.values("id")
        )
    else:
        arrived = Q(kind="user", ref_id__in=list(user_ids)) | Q(
            kind="event", ref_id__in=list(event_ids)
        )
    return list(
        MissingReference.objects.filter(arrived).values_list("parked_id", flat=True).distinct()
    )


def park(records: list[dict], missing: dict, source: str | Mapping[int, str]) -> None:
    """Park coupons (over older parked versions), each waiting for what `missing` says.

    The caller has claimed their rows (`claim`), so no release or expiry
    is acting on an older version meanwhile.
    """
    ids = [r["id"] for r in records]
    encoded = {r["id"]: json.loads(json.dumps(r, cls=DjangoJSONEncoder)) for r in records}
    sources = source if isinstance(source, Mapping) else dict.fromkeys(ids, source)
    ParkedCoupon.objects.bulk_create(
        [ParkedCoupon(coupon_id=pk, payload=encoded[pk], source=sources.get(pk, "")) for pk in ids],
        update_conflicts=True,
        unique_fields=["coupon_id"],
        update_fields=["payload", "source", "parked_at"],  # the timeout runs from the newest
    )
    record_missing({pk: missing[pk] for pk in ids})


def record_missing(missing: dict[int, list[tuple[str, int]]]) -> None:
    """Replace what each (claimed) parked coupon waits for."""
    MissingReference.objects.filter(parked_id__in=list(missing)).delete()
    MissingReference.objects.bulk_create(
        [
            MissingReference(parked_id=pk, kind=kind, ref_id=ref_id)
            for pk, lacks in missing.items()
            for kind, ref_id in set(lacks)
        ],
        # A coupon parked for the first time by two transactions at once had no row to claim.
        ignore_conflicts=True,
    )


def unpark(coupon_ids: Iterable[int]) -> None:
    """Remove claimed parked coupons (stored or dead-lettered) and what they waited for."""
    coupon_ids = list(coupon_ids)
    if coupon_ids:
        ParkedCoupon.objects.filter(coupon_id__in=coupon_ids).delete()


@transaction.atomic
def expire(*, max_age: timedelta) -> list[ParkedCoupon]:
    """Claim, remove and return parked coupons older than `max_age`, for dead-lettering.

    SKIP LOCKED: a coupon claimed by a transaction that is storing it, or
    parking a newer version over it, is left to that transaction; one
    claimed here is never also stored.
    """
    expired = list(
        ParkedCoupon.objects.filter(parked_at__lt=timezone.now() - max_age)
        .order_by("coupon_id")
        .select_for_update(skip_locked=True)
        .prefetch_related("missing")
    )
    unpark(parked.coupon_id for parked in expired)
    return expired
