"""Parked coupons stored once what they lack has arrived (docs/consumers.md, parking and claims).

What a coupon lacks, its parked row and the claim on it are
`ingest.parking`'s; this module stores the claimed coupons that lack
nothing now, through the one coupon writer (`coupons.coupons_write`).
"""

from collections.abc import Iterable

from django.db import transaction

from ingest import parking
from ingest.services.coupons import coupons_write


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
    return release_claimed(parking.claim(candidates)) if candidates else []


def release_claimed(claimed: dict[int, dict]) -> list[int]:
    """Store the claimed parked coupons that lack nothing now; the others wait for less.

    Readiness and what is stored come from the claimed payloads: one read
    before the claim may have been replaced by a newer version, or stored.
    """
    if not claimed:
        return []
    records = parking.valid_records(claimed.values())
    missing = parking.missing_references(records)
    ready = [r for r in records if r["id"] not in missing]
    coupons_write(ready)
    ready_ids = [r["id"] for r in ready]
    parking.unpark(ready_ids)
    parking.record_missing(missing)  # what the others still lack has shrunk
    return ready_ids
