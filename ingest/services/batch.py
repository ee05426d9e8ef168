"""Storing a consumed batch of any kinds in one transaction, releasing what it unblocks.

The consumer's one call per batch (`ingest/kafka/batch.py`), and
load_dummy's per chunk: users and events first, then the parked coupons
they make ready, then the batch's own coupons, stored or parked.
"""

from collections.abc import Iterable, Mapping

from django.db import transaction

from ingest import parking
from ingest.services.coupons import StoreResult, coupons_store
from ingest.services.events import events_upsert
from ingest.services.release import release_claimed
from ingest.services.users import users_upsert


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
        released = release_claimed({pk: claimed[pk] for pk in candidates if pk in claimed})
    result = coupons_store(records=coupons, source=source) if coupons else StoreResult()
    result.users, result.events, result.released = stored_users, stored_events, released
    return result
