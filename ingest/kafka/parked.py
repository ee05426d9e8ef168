"""Upkeep of parked coupons (docs/consumers.md, parking and claims), run by consumers now and then.

Every few seconds (`ParkedUpkeep.due`: often enough that no coupon waits
much past its timeout), beside the poll loop like a store, since releasing
thousands of coupons takes seconds:

- Store parked coupons whose user and events have arrived (committed
  meanwhile by another consumer process).
- Dead-letter those parked longer than `PARKED_TIMEOUT_SECONDS`: claimed
  (one another transaction is storing is skipped, see `ingest.parking`), removed
  and written as unpublished dead letters in one transaction, then
  published after the commit, so the database's write lock is never held
  while waiting for the broker, and a broker outage delays them but loses
  none.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from confluent_kafka import KafkaException, Producer
from django.conf import settings
from django.db import DatabaseError, transaction

from betreco import metrics
from ingest import parking, services
from ingest.kafka.backoff import DATABASE_UNAVAILABLE, drop_database_connections
from ingest.kafka.dead_letter import (
    PUBLISH_TIMEOUT,
    Failure,
    publish_unpublished,
    record_dead_letters,
)
from ingest.kafka.holding import Holding
from ingest.models import DeadLetter, ParkedCoupon

logger = logging.getLogger(__name__)

UPKEEP_INTERVAL = 5.0  # seconds between upkeeps, at most


@dataclass(frozen=True)
class Upkeep:
    released: int = 0
    dead_lettered: int = 0


class ParkedUpkeep:
    """The loop's upkeep of parked coupons: when it is due, and run beside the poll loop."""

    def __init__(self, producer: Producer, holding: Holding):
        self.producer = producer
        self.holding = holding
        self.next_run = 0.0

    def due(self) -> bool:
        """True every few seconds (the loop's beat for other upkeep too)."""
        now = time.monotonic()
        if now < self.next_run:
            return False
        interval = min(UPKEEP_INTERVAL, max(settings.PARKED_TIMEOUT_SECONDS / 2, 0.5))
        self.next_run = now + interval
        return True

    def run(self) -> int:
        """Release, expire and publish (`parked_upkeep`); how many were dead-lettered.

        A failure is logged and tried again next time (0 dead-lettered now).
        """
        try:
            upkeep = self.holding.run_writing(
                lambda: parked_upkeep(self.producer), what="looking after parked coupons"
            )
        except DATABASE_UNAVAILABLE as error:
            logger.warning("parked coupons not checked, the database is unavailable: %s", error)
            drop_database_connections()
        except DatabaseError as error:  # e.g. a concurrent release: try again next time
            logger.warning("parked coupons not checked this time: %s", error)
        except KafkaException as error:
            logger.warning("expired parked coupons not dead-lettered yet: %s", error)
        else:
            return upkeep.dead_lettered
        return 0


def parked_upkeep(producer: Producer) -> Upkeep:
    """Release what became ready, expire what waited too long, publish their dead letters."""
    released, expired = 0, []
    if ParkedCoupon.objects.exists():
        released = len(services.release_parked(everything=True))
        if released:
            logger.info("stored %d parked coupons whose references arrived", released)
        expired = _expire()
        for failure in expired:
            metrics.DEAD_LETTERS.labels(failure.topic).inc()
    if expired or DeadLetter.objects.filter(published_at__isnull=True).exists():
        publish_unpublished(producer, timeout=PUBLISH_TIMEOUT)
    return Upkeep(released=released, dead_lettered=len(expired))


@transaction.atomic
def _expire() -> list[Failure]:
    max_age = timedelta(seconds=settings.PARKED_TIMEOUT_SECONDS)
    failures = [Failure.of_parked(p) for p in parking.expire(max_age=max_age)]
    record_dead_letters(failures, published=False)
    return failures
