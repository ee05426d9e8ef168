"""Store, with hold and retry: a batch in one transaction, however long the database is away.

The step after the poll (docs/consumers.md): the batch is decoded and
validated (`batch.prepare`), then its valid records and its dead-letter rows
are written in one transaction (`write`). Both run in the consumer's worker
thread, polled beside when they take long (`Holding.run_writing`). While the
database (or, for a topic's id, the broker) is unavailable, the same batch
is retried with backoff, its partitions paused and polled (`holding`); the
records of a partition revoked meanwhile are dropped, their new owner
stores them. When the database refuses a whole batch for a reason that is
not an outage, its messages are written one by one (`write_one_by_one`).
"""

import logging
from collections.abc import Callable

from confluent_kafka import KafkaException
from django.db import DatabaseError, transaction

from ingest import services
from ingest.kafka.backoff import DATABASE_UNAVAILABLE, drop_database_connections, retry
from ingest.kafka.batch import Batch, prepare
from ingest.kafka.dead_letter import Failure, record_dead_letters
from ingest.kafka.derived_ids import DerivedIds
from ingest.kafka.holding import Holding, Revoked
from ingest.kafka.topics import ErrorKind

logger = logging.getLogger(__name__)


class Store:
    """Decodes, validates and stores batches, holding each through outages until it is stored."""

    def __init__(
        self, holding: Holding, derived_ids: DerivedIds, *, should_stop: Callable[[], bool]
    ):
        self.holding = holding
        self.derived_ids = derived_ids
        self.should_stop = should_stop

    def store(self, batch: Batch) -> Batch | None:
        """Store `batch` however long the database is unavailable; the batch stored, prepared.

        Fewer messages than given when partitions were revoked during the
        wait (their new owner stores those), and None when none of them is
        ours any more (the partitions resume then). Otherwise they stay
        paused, if they were, until its dead letters are acknowledged
        (`DeadLetterPublisher.publish`).
        """
        self.holding.hold(set(batch.next_offsets))  # its partitions
        while True:
            try:
                stored = self._write(self._prepare(batch))
                self.holding.hold(set())  # stored: a new owner replaying it now changes nothing
                return stored
            except Revoked as revoked:
                kept = batch.without(revoked.positions)
                logger.info(
                    "dropped %d held records of %s, revoked during the wait: "
                    "their new owner stores them",
                    batch.size - kept.size,
                    revoked,
                )
                batch = kept
                if not batch.messages:
                    self.holding.resume("every held record went to other members")
                    return None

    def _prepare(self, batch: Batch) -> Batch:
        return self._retry(
            lambda: self.holding.run_writing(
                lambda: prepare(batch, self.derived_ids), what=f"preparing {batch.size}"
            ),
            f"deriving ids for a batch of {batch.size}",
            batch.size,
            retry_on=(*DATABASE_UNAVAILABLE, KafkaException),  # the topic id: the broker
        )

    def _write(self, batch: Batch) -> Batch:
        try:
            self._retry(
                lambda: self.holding.run_writing(
                    lambda: write(batch), what=f"storing {batch.size}"
                ),
                f"storing a batch of {batch.size}",
                batch.size,
            )
        except DatabaseError:
            logger.exception("the database refused a batch; storing its messages one by one")
            batch = self._retry(
                lambda: self.holding.run_writing(
                    lambda: write_one_by_one(batch, self.derived_ids),
                    what=f"storing {batch.size} one by one",
                ),
                f"storing {batch.size} one by one",
                batch.size,
            )
        return batch

    def _retry(self, step, what: str, records: int, retry_on=DATABASE_UNAVAILABLE):
        """Retry a step through an outage, holding `records` with the partitions paused."""

        def unavailable(error: BaseException) -> None:
            drop_database_connections()
            cause = " ".join(str(error).split())  # one line, whatever the driver says
            down = "Kafka" if isinstance(error, KafkaException) else "database"
            self.holding.pause(f"{down} unavailable: {cause}; holding {records} records")

        return retry(
            step,
            what=what,
            retry_on=retry_on,
            should_stop=self.should_stop,
            on_failure=unavailable,
            wait=self.holding.wait,
        )


@transaction.atomic
def write(batch: Batch) -> services.StoreResult:
    """Write a prepared batch's records and its dead-letter rows in one transaction."""
    result = services.store_batch(
        users=batch.records["users"],
        events=batch.records["events"],
        coupons=batch.records["coupons"],
        source=batch.coupon_sources,
    )
    record_dead_letters(batch.failures)
    return result


def write_one_by_one(batch: Batch, derived_ids: DerivedIds) -> Batch:
    """The fallback when the database refuses a whole batch (not an outage, e.g. a constraint).

    Each message is written in a transaction of its own, and the ones the
    database refuses become dead letters, so one such record neither stops
    the consumer nor takes the rest of its batch with it. Returns the batch
    with the failures of all its messages.
    """
    combined = Batch(batch.messages, fetched=batch.fetched)
    for message in batch.messages:
        single = prepare(Batch([message]), derived_ids)  # ids derived already: cached
        try:
            write(single)
        except DATABASE_UNAVAILABLE:
            raise
        except DatabaseError as error:
            failure = Failure.of_message(
                message, error=str(error), error_kind=ErrorKind.REFUSED_BY_DATABASE
            )
            single = Batch([message], failures=[failure])
            write(single)
        combined.failures += single.failures
    return combined
