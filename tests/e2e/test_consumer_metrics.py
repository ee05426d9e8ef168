"""A consumer's figures while it runs: /metrics (`--metrics-port`) and the status rows it writes."""

import signal
import urllib.error

import pytest
from django.conf import settings

from betreco.embedded_broker import free_port
from ingest.models import ConsumerStat
from ingest.models import PartitionLag as PartitionLagRow
from tests.kafka_pipeline import wait_until
from tests.prometheus import label_sets, scrape, value
from tests.records import coupon, event, user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def scraped(url: str) -> str:
    try:
        return scrape(url)
    except (urllib.error.URLError, ConnectionError):
        return ""


def test_a_consumer_serves_stored_records_dead_letters_lag_parked_and_timings(pipeline):
    pipeline.produce("users", [user(pk) for pk in range(1, 6)] + [b"not json"])
    pipeline.produce("events", [event(10)])
    pipeline.produce("coupons", [coupon(100, 1, [10]), coupon(101, 999, [10])])  # 101 parks
    port = free_port()
    consumer = pipeline.start_consumer("users", "events", "coupons", "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    users, events, coupons = (pipeline.topic(kind) for kind in ("users", "events", "coupons"))

    def stored(topic):
        return value(scraped(url), "betreco_records_stored_total", topic=topic)

    wait_until(lambda: stored(coupons) == 2, what=f"2 coupons counted\n{consumer.log}")
    # The refresh drains after the batch's commit: wait for it rather than race it.
    text = wait_until(
        lambda: (
            (t := scraped(url))
            and value(t, "betreco_recommendation_refresh_seconds_count") >= 1
            and t
        ),
        what=f"the refresh after the batch\n{consumer.log}",
    )
    assert stored(users) == 5
    assert stored(events) == 1
    assert value(text, "betreco_dead_letters_total", topic=users) == 1
    assert value(text, "betreco_dead_letters_total", topic=events) == 0
    assert value(text, "betreco_batch_duration_seconds_count") >= 1
    assert value(text, "betreco_recommendation_refresh_seconds_count") >= 1
    drain = "recommendations.outbox.refresh_pending"
    assert value(text, "betreco_outbox_drain_seconds_count", drain=drain) >= 1

    # Lag and parked coupons are gauges the consumer sets every few seconds.
    def lag_and_parked_reported():
        text = scraped(url)
        return (
            len(label_sets(text, "betreco_consumer_lag")) == 3 * settings.KAFKA_TOPIC_PARTITIONS
            and value(text, "betreco_parked_coupons") == 1
            and text
        )

    text = wait_until(
        lag_and_parked_reported, timeout=20, what=f"lag and parked coupons\n{consumer.log}"
    )
    partitions = {(s["topic"], s["partition"]) for s in label_sets(text, "betreco_consumer_lag")}
    assert partitions == {
        (t, str(p))
        for t in (users, events, coupons)
        for p in range(settings.KAFKA_TOPIC_PARTITIONS)
    }
    assert value(text, "betreco_consumer_lag") == 0  # everything consumed and committed

    consumer.signal(signal.SIGTERM)
    assert consumer.wait() == 0, consumer.log


def test_consumer_metrics_port_serves_them_too_on_loopback(pipeline):
    pipeline.produce("users", [user(1), user(2)])
    port = free_port()

    consumer = pipeline.start_consumer("users", env={"CONSUMER_METRICS_PORT": port})

    url = f"http://127.0.0.1:{port}/metrics"
    topic = pipeline.topic("users")
    wait_until(
        lambda: value(scraped(url), "betreco_records_stored_total", topic=topic) == 2,
        what=f"2 users counted\n{consumer.log}",
    )
    assert f"metrics on http://127.0.0.1:{port}/metrics" in consumer.log
    consumer.signal(signal.SIGTERM)
    assert consumer.wait() == 0, consumer.log


def test_a_consumer_reports_what_it_stored_and_dead_lettered_and_its_lag(pipeline):
    pipeline.produce("users", [user(1), b"{not json", user(2), user(3, country="ZZ")])

    pipeline.consume("users")

    topic = pipeline.topic("users")
    rows = ConsumerStat.objects.filter(topic=topic)
    assert sum(row.stored for row in rows) == 2
    assert sum(row.dead_lettered for row in rows) == 2
    lags = PartitionLagRow.objects.filter(topic=topic)
    assert lags.exists()
    assert all(row.lag == 0 for row in lags)
