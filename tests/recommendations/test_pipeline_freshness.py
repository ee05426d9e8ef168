"""Through Kafka: records consumed by `consume_topic` leave every answer as a full rebuild would."""

import random
import uuid

import pytest

from ingest.kafka.admin import ensure_topics
from ingest.models import Coupon
from recommendations.models import Recommendation
from tests.pipeline.conftest import Pipeline, coupon, event, user
from tests.recommendations.conftest import from_scratch, stored_answers

pytestmark = pytest.mark.kafka

SPORTS = ["Football", "football", "Tennis", "TENNIS", "Golf", "Basketball"]


@pytest.fixture
def kafka_pipeline(transactional_db, kafka_bootstrap, settings, tmp_path):
    """Topics of this test's own (a unique KAFKA_TOPIC_PREFIX) and its consumer processes."""
    prefix = f"r{uuid.uuid4().hex[:10]}."
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.KAFKA_TOPIC_PREFIX = prefix
    settings.KAFKA_CONSUMER_GROUP = f"{prefix}group"
    ensure_topics(kafka_bootstrap)
    line = Pipeline(bootstrap=kafka_bootstrap, prefix=prefix, log_dir=tmp_path)
    yield line
    line.stop_all()


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


def test_consumed_records_leave_every_answer_fresh(kafka_pipeline):
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
    kafka_pipeline.produce("coupons", coupons[:60])
    kafka_pipeline.produce("users", users)
    kafka_pipeline.produce("events", events)
    kafka_pipeline.produce("coupons", coupons[60:])

    kafka_pipeline.consume("coupons", "users", "events")

    assert Coupon.objects.count() == len(coupons)  # parked ones were released
    assert Recommendation.objects.count() == len(users)
    assert stored_answers() == from_scratch()
