"""A batch that takes longer to store than max.poll.interval.ms keeps the group membership.

On PostgreSQL a trigger makes storing one user sleep past the consumer's
(shortened) poll interval: not a lock wait, which the consumer bounds and
treats as an outage, but plain slow work, as a busy database or a huge
batch on two cores is. The consumer stores in its worker thread and polls
meanwhile with its partitions paused, so it is not dropped from the group
and no other member takes over the partitions it is still writing.
"""

import pytest
from django.db import connection

from ingest.models import User
from tests.kafka_pipeline import wait_until
from tests.records import user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

SLOW_USER = 4242
SLEEP_SECONDS = 8
MAX_POLL_INTERVAL_MS = 4000


@pytest.fixture
def slow_user_insert():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a trigger that sleeps (set TEST_DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION slow_user() RETURNS trigger AS $$
            BEGIN
                IF NEW.id = {SLOW_USER} THEN PERFORM pg_sleep({SLEEP_SECONDS}); END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER slow_user BEFORE INSERT ON ingest_user
                FOR EACH ROW EXECUTE FUNCTION slow_user();
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER IF EXISTS slow_user ON ingest_user; DROP FUNCTION IF EXISTS slow_user();"
        )


def test_a_batch_slower_than_the_poll_interval_keeps_the_consumer_in_its_group(
    pipeline, slow_user_insert
):
    env = {"KAFKA_MAX_POLL_INTERVAL_MS": MAX_POLL_INTERVAL_MS, "KAFKA_SESSION_TIMEOUT_MS": 3000}
    consumer = pipeline.start_consumer("users", env=env)
    wait_until(lambda: "assigned" in consumer.log, timeout=30, what="the consumer to join")
    pipeline.produce("users", [user(SLOW_USER)])
    wait_until(lambda: User.objects.filter(id=SLOW_USER).exists(), timeout=60, what="the slow user")
    later = [user(pk) for pk in range(1, 21)]
    pipeline.produce("users", later)
    wait_until(lambda: User.objects.count() == 21, timeout=30, what="the later users")
    log = consumer.log
    assert "is taking a while, partitions paused" in log, log
    assert "maximum poll interval" not in log, log
    assert "lost " not in log, log
    assert log.count("assigned") == 1, log  # never dropped, never joined again
