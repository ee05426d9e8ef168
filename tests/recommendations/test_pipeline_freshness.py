"""Through Kafka: records consumed by `consume_topic` leave every answer as a full rebuild would."""

import random

import pytest

from ingest.models import Coupon
from recommendations.models import Recommendation
from tests.recommendations.conftest import from_scratch, stored_answers
from tests.records import coupon, event, user

pytestmark = pytest.mark.kafka

SPORTS = ["Football", "football", "Tennis", "TENNIS", "Golf", "Basketball"]


def _event(rng, pk):
    if rng.random() < 0.25:  # ended long ago
        return event(
            pk,
            rng.choice(SPORTS),
            begin_timestamp="2020-01-01T10:00:00Z",
            end_timestamp="2020-01-01T12:00:00Z",
        )
    day = rng.randint(1, 28)
    return event(
        pk,
        rng.choice(SPORTS),
        begin_timestamp=f"2031-02-{day:02}T10:00:00Z",
        end_timestamp=f"2031-02-{day:02}T12:00:00Z",
    )


def test_consumed_records_leave_every_answer_fresh(pipeline):
    rng = random.Random(11)
    users = [user(pk) for pk in range(1, 41)]
    events = [_event(rng, pk) for pk in range(101, 161)]
    coupons = [
        coupon(
            1000 + i,
            rng.randint(1, 40),
            rng.sample(range(101, 161), rng.randint(1, 3)),
            timestamp=f"2030-01-{rng.randint(1, 28):02}T12:00:00Z",
        )
        for i in range(120)
    ]
    # Coupons first: some wait (parked) for their user or events, as in production.
    pipeline.produce("coupons", coupons[:60])
    pipeline.produce("users", users)
    pipeline.produce("events", events)
    pipeline.produce("coupons", coupons[60:])

    pipeline.consume("coupons", "users", "events")

    assert Coupon.objects.count() == len(coupons)  # parked ones were released
    assert Recommendation.objects.count() == Coupon.objects.values("user").distinct().count()
    assert stored_answers() == from_scratch()
