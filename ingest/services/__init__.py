"""Writes: every change to users, events, coupons and selections goes through these functions.

The consumers, the data API, the admin and load_dummy call the same
functions the same way. Each takes records that passed
`ingest.validation` (the admin's come from its model forms) and writes
set-based, skipping rows equal to what is stored, and only changes that
matter to others are announced (`ingest.hooks`: events written, bets
changed), with the affected ids worked out, in the writing transaction.

By job:

- `upserts.py`: one record per id, only changed rows, bulk upserts;
- `users.py`, `events.py`: storing and deleting users; events and their
  participant pairs;
- `coupons.py`: coupons with exactly their selections, and the one rule
  for whose bets a change touches; stored when their user and events
  exist, else parked (the consumers) or refused (the data API); deleted;
- `selections.py`: a selection added, changed or deleted by hand, as a
  change of the coupons it touches;
- `release.py`: parked coupons stored once what they lack has arrived
  (the parked rows and their claims: `ingest/parking.py`);
- `batch.py`: a consumed batch of any kinds in one transaction.
"""

from ingest.services.batch import store_batch
from ingest.services.coupons import (
    MissingReferences,
    StoreResult,
    coupon_put,
    coupons_delete,
    coupons_store,
)
from ingest.services.events import events_delete, events_upsert
from ingest.services.release import release_parked
from ingest.services.selections import selection_put, selections_delete
from ingest.services.users import users_delete, users_upsert

__all__ = [
    "MissingReferences",
    "StoreResult",
    "coupon_put",
    "coupons_delete",
    "coupons_store",
    "events_delete",
    "events_upsert",
    "release_parked",
    "selection_put",
    "selections_delete",
    "store_batch",
    "users_delete",
    "users_upsert",
]
