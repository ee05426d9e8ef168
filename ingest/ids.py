"""Ids for records posted without one (SPEC §3): blocks leased from a database counter.

Every assigned id is a positive integer of at most 2**53 - 1, so JavaScript
reads it exactly, and no two processes ever assign the same one, with no
configuration: the database holds one counter (`IdCounter`), a process
leases a block of consecutive ids from it in one short transaction and hands
them out from memory. A block is never leased twice, so a process that dies
only leaves a gap.

The id space (README, "Assigned ids"):

- below 2**40: the source systems' own ids (the seed's are five digits);
- [2**40, 2**52): leased ids, from the counter;
- [2**52, 2**53): ids the consumers derive from a message's place when a
  record on a topic has none (`derived_id`: its partition and offset), the same on every replay.

A block starts at MIN_BLOCK ids and doubles, up to MAX_BLOCK, while each
lasts under FAST_SECONDS, so a busy process touches the database about once
a second at most and an idle one leases (and may waste) little.
"""

import logging
import os
import threading
import time
from collections.abc import Callable

from django.db import DatabaseError, OperationalError, router, transaction

from ingest.models import IdCounter

logger = logging.getLogger(__name__)

FIRST_LEASED_ID = 2**40
FIRST_DERIVED_ID = 2**52  # leased ids stay below it
MAX_ASSIGNED_ID = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER
MIN_BLOCK = 64
MAX_BLOCK = 65_536
FAST_SECONDS = 1.0  # a block used up faster than this: lease twice as many next time
SLOW_SECONDS = 60.0  # a block that lasted longer: lease half as many next time
# What a client is told (the database's own words stay in the logs, as the error's cause).
UNAVAILABLE = "No id could be assigned: the database that holds the id counter is unavailable."


class IdUnavailable(OperationalError):
    """No id could be assigned: the database that holds the id counter failed.

    A database error (an OperationalError, like an outage), so whatever
    answers a database outage answers this one too. Its message names the
    cause for the 503 that the API and the producer return; the database's
    own error is its `__cause__`.
    """


class IdsExhausted(RuntimeError):
    """Every id below 2**52 has been leased (README: years of headroom; see "Assigned ids")."""


def lease_block(size: int) -> range:
    """Take the next `size` ids from the counter (fewer when the leased range ends).

    One transaction of its own when called outside one (it commits before
    returning). Inside the caller's transaction the lease is part of it: a
    rollback undoes it, and the same ids may be leased again.
    """
    alias = router.db_for_write(IdCounter)
    try:
        with transaction.atomic(using=alias):
            counter = IdCounter.objects.using(alias).select_for_update().filter(pk=1).first()
            if counter is None:
                raise IdUnavailable(
                    "No id could be assigned: the id counter row is missing "
                    "(`manage.py migrate` creates it)."
                )
            start = counter.next_id
            if start >= FIRST_DERIVED_ID:
                raise IdsExhausted(f"Every assignable id below {FIRST_DERIVED_ID} is leased.")
            end = min(start + size, FIRST_DERIVED_ID)
            IdCounter.objects.using(alias).filter(pk=1).update(next_id=end)
    except IdUnavailable:
        raise
    except DatabaseError as error:
        raise IdUnavailable(UNAVAILABLE) from error
    return range(start, end)


class IdPool:
    """Hands out ids from leased blocks; shared by the threads of one process.

    Two locks: `_lock` guards the block being handed out and is never held
    during a query; `_lease_lock` lets one thread at a time lease the next
    block while the others wait for it. A thread inside a transaction never
    waits for `_lease_lock`: the leasing thread may be waiting for the
    database lock that this very transaction holds (SQLite).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._lease_lock = threading.Lock()
        self._next = 0
        self._end = 0
        self.block_size = MIN_BLOCK
        self._leased_at: float | None = None

    def new_id(self) -> int:
        """An id no other caller in any process gets (see the module's docstring)."""
        while True:
            taken = self._take()
            if taken is not None:
                return taken
            if _in_transaction():
                return self._private_id()
            with self._lease_lock:
                if self._remaining() == 0:
                    self._refill()

    def _take(self) -> int | None:
        with self._lock:
            if self._next < self._end:
                self._next += 1
                return self._next - 1
        return None

    def _remaining(self) -> int:
        with self._lock:
            return self._end - self._next

    def _private_id(self) -> int:
        """An id leased inside the caller's transaction, for this caller alone.

        The shared block is empty and a lease made now would be undone if
        the caller's transaction rolls back, while other threads would go on
        handing out its ids; so the lease is one id, returned to this caller
        only. If the transaction rolls back, that id was never stored and
        may be assigned again.
        """
        return lease_block(1).start

    def _refill(self) -> None:
        now = self._clock()
        if self._leased_at is not None:
            lasted = now - self._leased_at
            if lasted < FAST_SECONDS:
                self.block_size = min(self.block_size * 2, MAX_BLOCK)
            elif lasted > SLOW_SECONDS:
                self.block_size = max(self.block_size // 2, MIN_BLOCK)
        block = lease_block(self.block_size)
        logger.debug("leased ids %d-%d", block.start, block.stop - 1)
        with self._lock:
            self._next, self._end = block.start, block.stop
        self._leased_at = now


def _in_transaction() -> bool:
    """Is the id counter's connection inside a transaction (atomic block or autocommit off)?"""
    connection = transaction.get_connection(router.db_for_write(IdCounter))
    if connection.in_atomic_block:
        return True
    try:
        return not connection.get_autocommit()
    except DatabaseError as error:
        raise IdUnavailable(UNAVAILABLE) from error


_pool = IdPool()


def _forget_blocks_after_fork() -> None:
    """A forked child must not hand out its parent's block (gunicorn --preload)."""
    global _pool
    _pool = IdPool()


os.register_at_fork(after_in_child=_forget_blocks_after_fork)


def new_id() -> int:
    """A fresh id in [2**40, 2**52) that no other process or thread assigns.

    Raises IdUnavailable (a database error) when the counter cannot be read.
    """
    return _pool.new_id()


# A derived id is the message's place: its partition above its offset.
DERIVED_OFFSET_BITS = 40  # a trillion messages a partition
DERIVED_PARTITION_BITS = 12  # 4,096 partitions a topic


def derived_id(partition: int, offset: int) -> int | None:
    """An id in [2**52, 2**53) for a record at (partition, offset) of its kind's topic.

    For a record that arrives on a topic without an id: the same on every
    replay of its message, and never the same for two messages of one topic
    (records of different kinds live in different tables, so their ids may
    meet). None when the place does not fit (partition 4,096 or more, offset
    2**40 or more): the record then gets a leased id, unique but new on a replay.
    """
    if not (
        0 <= partition < 1 << DERIVED_PARTITION_BITS and 0 <= offset < 1 << DERIVED_OFFSET_BITS
    ):
        return None
    return FIRST_DERIVED_ID + (partition << DERIVED_OFFSET_BITS | offset)
