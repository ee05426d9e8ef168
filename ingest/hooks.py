"""The two hooks ingest offers the apps that read its data; nothing else crosses.

1. **What changed.** Every write of users, events, coupons and selections
   goes through `ingest.services` (the consumers, the data API, the
   admin), which send these inside the transaction that wrote the change,
   with the affected ids worked out (Django's model signals are no
   substitute: bulk writes send none, and a receiver of one would have to
   guess what changed):

   - `events_written(event_ids=[...], deleted=False)`: events stored new or
     changed (their sport or times may differ); with `deleted=True`, events
     about to be deleted, sent before the delete so that a receiver can
     still read what refers to them;
   - `bets_changed(user_ids=[...], event_ids=[...])`: the users whose bets
     changed (the owners of coupons written or deleted, and the previous
     owner of a coupon moved to another user) and the events whose
     selections changed (added, changed, removed or moved away).

   Users on their own send nothing: nobody depends on them. Receivers only
   record what they owe, in the same transaction, and do the work later.

2. **What to drain.** `register_drain(drain, wake=...)`: a consumer runs
   every registered drain after its commits, at start and when idle
   (`ingest/kafka/drains.py`, docs/consumers.md); a server's write request
   (the data API's write views, the admin's saves and deletes) calls
   `drain_after_commit()`, which calls every registered `wake` once the
   request's transaction commits, so the drain runs beside the server
   (docs/recommendations.md) and the request does not wait for it. Work a
   receiver owed is done without ingest importing its reader.

An app registers both in its `AppConfig.ready()` (`recommendations/apps.py`).
"""

from collections.abc import Callable

from django.db import transaction
from django.dispatch import Signal

from betreco.crashpoints import crash_point

events_written = Signal()
bets_changed = Signal()

_drains: list[Callable[[], object]] = []
_wakes: list[Callable[[], object]] = []


def register_drain(drain: Callable[[], object], *, wake: Callable[[], object]) -> None:
    """Adds `drain` to what consumers run after their commits, and `wake` to what a server
    calls after a write request commits (each once, however often called).

    `wake` must return at once, having started `drain` elsewhere (a thread of the server).
    """
    if drain not in _drains:
        _drains.append(drain)
    if wake not in _wakes:
        _wakes.append(wake)


def registered_drains() -> list[Callable[[], object]]:
    return list(_drains)


def drain_after_commit() -> None:
    """Once the caller's transaction commits (at once outside one), wake the registered drains.

    For a server's writes: the data API's write views and the admin call it
    after their service calls. A consumer runs its drains itself.
    """
    transaction.on_commit(_wake_drains)


def _wake_drains() -> None:
    crash_point("write-committed")  # the fault tests' server dies between its commit and the wake
    for wake in _wakes:
        wake()
