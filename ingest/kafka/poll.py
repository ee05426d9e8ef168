"""Poll, the loop's first step: collect the next batch, in offset order (docs/consumers.md).

`consume(n, timeout)` returns only when it has n messages or the timeout
ends, so one long call would hold a trickle of records for the whole
timeout. Short calls instead: keep filling while messages come, hand over
as soon as a call brings none (or after `poll_timeout`). Each call's
messages are admitted in offset order only (`offsets`, gap-free); a
rebalance during a later call drops what was collected of the partitions it
took away (`forget`), so no older version is stored over what their new
owner stores.
"""

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException

from ingest.kafka.batch import Batch
from ingest.kafka.logs import log_error
from ingest.kafka.offsets import Offsets
from ingest.kafka.topics import Position, position_of

logger = logging.getLogger(__name__)

FILL_WAIT = 0.1  # seconds one consume call waits while a batch fills


class Poller:
    """Collects batches from a subscribed consumer, admitting messages through `offsets`."""

    def __init__(
        self,
        consumer: Consumer,
        offsets: Offsets,
        *,
        poll_timeout: float,
        should_stop: Callable[[], bool],
    ):
        self.consumer = consumer
        self.offsets = offsets
        self.poll_timeout = poll_timeout
        self.should_stop = should_stop
        self.collecting: list = []  # the batch being collected (rebalances drop from it)

    def collect(self, limit: int) -> Batch:
        """Up to `limit` messages without a gap, and how many were fetched to get them."""
        deadline = time.monotonic() + self.poll_timeout
        self.collecting, fetched = [], 0
        while fetched < limit and not self.should_stop():
            got = self.consumer.consume(limit - fetched, timeout=FILL_WAIT)
            fetched += len(got)
            self.collecting += self.offsets.admit(_without_kafka_errors(got))
            if (fetched and not got) or time.monotonic() >= deadline:
                break
        messages, self.collecting = self.collecting, []
        return Batch(messages, fetched=fetched)

    def forget(self, positions: set[Position]) -> None:
        """From a rebalance: these partitions left us; drop what was collected of them."""
        self.offsets.forget(positions)
        kept = [m for m in self.collecting if position_of(m) not in positions]
        if len(kept) < len(self.collecting):
            logger.info(
                "left %d collected messages of partitions no longer ours",
                len(self.collecting) - len(kept),
            )
        self.collecting = kept


def _without_kafka_errors(messages: list) -> list:
    """The messages that carry no error; a fatal error ends the loop, others are logged
    as the client's `error_cb` logs them (once a minute per code)."""
    good = []
    for message in messages:
        error = message.error()
        if error is None:
            good.append(message)
        elif error.fatal():
            raise KafkaException(error)
        elif error.code() != KafkaError._PARTITION_EOF:
            log_error(error)
    return good
