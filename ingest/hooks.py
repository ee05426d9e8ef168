"""The two hooks ingest offers the apps that read its data; nothing else crosses.

1. **What changed.** The services send, inside the transaction that wrote
   the change, with the affected ids worked out (`bulk_create` sends no
   `post_save`):

   - `events_written(event_ids=[...])`: events stored new or changed (their
     sport or times may differ);
   - `bets_changed(user_ids=[...], event_ids=[...])`: the users whose bets
     changed (the owners of coupons written, and the previous owner of a
     coupon moved to another user) and the events whose selections changed.

   Users on their own send nothing: nobody depends on them. Receivers only
   record what they owe, in the same transaction, and do the work later.

2. **What to drain.** `register_drain(drain)`: a consumer runs every
   registered drain after its commits, at start and when idle
   (`ingest/kafka/drains.py`, docs/consumers.md), so work a receiver owed
   is done without ingest importing its reader.

An app registers both in its `AppConfig.ready()` (`recommendations/apps.py`).
"""

from collections.abc import Callable

from django.dispatch import Signal

events_written = Signal()
bets_changed = Signal()

_drains: list[Callable[[], object]] = []


def register_drain(drain: Callable[[], object]) -> None:
    """Adds `drain` to what consumers run after their commits (once, however often called)."""
    if drain not in _drains:
        _drains.append(drain)


def registered_drains() -> list[Callable[[], object]]:
    return list(_drains)
