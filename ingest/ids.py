"""Ids for records posted without one (docs/records.md): blocks leased from a database counter.

Every assigned id is a positive integer of at most 2**53 - 1, so JavaScript
reads it exactly, and no two processes ever assign the same one, with no
configuration: the database holds one counter (`IdCounter`), a process
leases a block of consecutive ids from it in one short transaction and hands
them out from memory. A block is never leased twice, so a process that dies
only leaves a gap.

The id space (docs/records.md, "Assigned ids"), every bound of it here:

- any record id is 0 to 2**63 - 1 (`MAX_ID`), whoever chose it;
- below 2**40: the source systems' own ids (the seed's are five digits);
- [2**40, 2**52): leased ids, from the counter;
- [2**52, 2**53): ids the consumers derive from a message's place when a
  record on a topic has none (`derived_id`: a number for the topic's
  incarnation, partition and offset >> 32, from `DerivedIdRange`, and the
  offset's low 32 bits), the same on every replay.

A block starts at MIN_BLOCK ids and doubles, up to MAX_BLOCK, while each
lasts under FAST_SECONDS, so a busy process touches the database about once
a second at most and an idle one leases (and may waste) little.
"""

import functools
import logging
import operator
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.db import DatabaseError, OperationalError, router, transaction
from django.db.models import Max, Q

from ingest.models import Coupon, DerivedIdRange, Event, IdCounter, ParkedCoupon, User

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # any record id: the sources' are 64-bit integers, 0 and up
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
    """Every id below 2**52 has been leased (docs/records.md, "Assigned ids": years of headroom)."""


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


# A derived id: a range's number above the low 32 bits of the message's offset.
DERIVED_OFFSET_BITS = 32  # a range holds 4,294,967,296 offsets
DERIVED_RANGE_BITS = 20  # 1,048,576 ranges; 2**52 + (2**20 - 1 << 32 | 2**32 - 1) = 2**53 - 1
OFFSET_MASK = (1 << DERIVED_OFFSET_BITS) - 1
ALLOCATION_ATTEMPTS = 50  # each lost race means another process allocated: progress anyway


class DerivedIdsExhausted(RuntimeError):
    """Every derived-id range number (2**20) is allocated (docs/records.md, "Derived ids")."""


class RangeKey(NamedTuple):
    """What a derived-id range belongs to: a topic's incarnation, a partition, offset >> 32."""

    topic: str
    topic_id: str  # the broker's id for this incarnation of the topic; "" if it reports none
    partition: int
    chunk: int

    @classmethod
    def of(cls, topic: str, topic_id: str, partition: int, offset: int) -> "RangeKey":
        return cls(topic, topic_id, partition, offset >> DERIVED_OFFSET_BITS)


def derived_id(number: int, offset: int) -> int:
    """The id in [2**52, 2**53) of the message at `offset` in the range numbered `number`.

    Ranges never share a number and a range's offsets agree in all but
    their low 32 bits, so two places never share an id.
    """
    if not 0 <= number < 1 << DERIVED_RANGE_BITS:
        raise ValueError(f"derived-id range number {number} is outside 0..2**20 - 1")
    return FIRST_DERIVED_ID + (number << DERIVED_OFFSET_BITS | offset & OFFSET_MASK)


def range_numbers(keys: Iterable[RangeKey]) -> dict[RangeKey, int]:
    """Each key's range number, allocating one (in a transaction of its own) for new keys.

    A number is written once and never changed, so every process reads the
    same one for a key, whenever it asks. New keys get numbers above the
    highest allocated; several processes allocating at once insert ignoring
    conflicts (on the key: another process allocated it; on the number:
    another took it), then read back what was stored and try again for
    what is still missing. Raises DerivedIdsExhausted when the numbers
    run out, and the database's own errors (an outage) as they are.
    """
    wanted = set(keys)
    found = _stored_numbers(wanted)
    alias = router.db_for_write(DerivedIdRange)
    for _ in range(ALLOCATION_ATTEMPTS):
        missing = sorted(wanted - found.keys())
        if not missing:
            return found
        with transaction.atomic(using=alias):
            ranges = DerivedIdRange.objects.using(alias)
            top = ranges.aggregate(top=Max("number"))["top"]
            if top is None:
                top = _highest_range_in_use(alias)
            if top + len(missing) >= 1 << DERIVED_RANGE_BITS:
                raise DerivedIdsExhausted(
                    f"No derived id for {len(missing)} new place(s) (first: {missing[0]}): all "
                    f"{1 << DERIVED_RANGE_BITS} derived-id ranges are allocated. Records on a "
                    "topic without an id cannot be stored; send them with their own ids."
                )
            ranges.bulk_create(
                [
                    DerivedIdRange(number=top + 1 + index, **key._asdict())
                    for index, key in enumerate(missing)
                ],
                ignore_conflicts=True,
            )
        found |= _stored_numbers(set(missing))
    if wanted <= found.keys():
        return found
    # Other processes won every race: contention, not exhaustion, so a database
    # error the consumer retries with its batch held.
    raise OperationalError(
        f"No derived-id range could be allocated in {ALLOCATION_ATTEMPTS} attempts: "
        "other processes kept taking the next number"
    )


def _stored_numbers(keys: set[RangeKey]) -> dict[RangeKey, int]:
    if not keys:
        return {}
    alias = router.db_for_read(DerivedIdRange)
    places = functools.reduce(operator.or_, (Q(**key._asdict()) for key in keys))
    rows = DerivedIdRange.objects.using(alias).filter(places)
    return {RangeKey(row.topic, row.topic_id, row.partition, row.chunk): row.number for row in rows}


def _highest_range_in_use(alias: str) -> int:
    """The highest range number that a stored record's id falls in; -1 if none.

    Ids derived before the ranges had numbers (2**52 + partition << 40 |
    offset) and ids sources chose in [2**52, 2**53) are stored without a
    range row: the first number allocated goes above all of them, so a new
    derived id never meets them. Ids of 2**53 and above cannot be met.
    """
    id_columns = ((User, "id"), (Event, "id"), (Coupon, "id"), (ParkedCoupon, "coupon_id"))
    tops = [
        model.objects.using(alias)
        .filter(**{f"{field}__gte": FIRST_DERIVED_ID, f"{field}__lte": MAX_ASSIGNED_ID})
        .aggregate(top=Max(field))["top"]
        for model, field in id_columns
    ]
    in_use = [top for top in tops if top is not None]
    if not in_use:
        return -1
    return (max(in_use) - FIRST_DERIVED_ID) >> DERIVED_OFFSET_BITS
