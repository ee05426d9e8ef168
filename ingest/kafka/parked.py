"""Upkeep of parked coupons (docs/consumers.md, parking and claims), run by consumers now and then.

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
from dataclasses import dataclass
from datetime import timedelta

from confluent_kafka import Producer
from django.conf import settings
from django.db import transaction

from betreco import metrics
from ingest import parking, services
from ingest.kafka.dead_letter import (
    PUBLISH_TIMEOUT,
    Failure,
    publish_unpublished,
    record_dead_letters,
)
from ingest.models import DeadLetter, ParkedCoupon

logger = logging.getLogger("ingest.kafka.consumer")


@dataclass(frozen=True)
class Upkeep:
    released: int = 0
    dead_lettered: int = 0


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
