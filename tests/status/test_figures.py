"""The status page's figures (status.figures), from the rows consumers and the outbox write."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ingest.kafka.reporting import BUCKET_SECONDS, bucket_of
from ingest.models import ConsumerStat, DeadLetter, ParkedCoupon, PartitionLag
from recommendations.models import PendingRefresh, RebuildRequest, Recommendation
from status import figures
from status.figures import WINDOW_SECONDS, status_figures
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("readiness_answers")]

NOW = 1_800_000_005.0
MOMENT = datetime.fromtimestamp(NOW, tz=UTC)


def topic(report: dict, name: str) -> dict:
    return next(row for row in report["topics"] if row["topic"] == name)


def lag_row(partition, lag, *, seconds_ago, topic="users"):
    return PartitionLag.objects.create(
        topic=topic,
        partition=partition,
        end_offset=100,
        committed=100 - lag,
        lag=lag,
        consumer="host:1",
        reported_at=MOMENT - timedelta(seconds=seconds_ago),
    )


def test_every_record_topic_is_listed_even_before_any_consumer_reported():
    report = status_figures(now=NOW)
    assert [row["topic"] for row in report["topics"]] == ["users", "events", "coupons"]
    assert topic(report, "users")["lag"] is None
    assert topic(report, "users")["records_per_second"] == 0


def test_the_chart_has_records_per_second_per_topic_in_each_full_bucket_of_the_last_15_minutes():
    current = bucket_of(NOW)
    last = current - BUCKET_SECONDS
    ConsumerStat.objects.create(topic="users", bucket=current, stored=7)  # still filling
    ConsumerStat.objects.create(topic="users", bucket=last, stored=50)
    ConsumerStat.objects.create(topic="users", bucket=last - 60, stored=25, dead_lettered=3)
    ConsumerStat.objects.create(topic="coupons", bucket=last - 120, stored=10)
    ConsumerStat.objects.create(topic="users", bucket=current - WINDOW_SECONDS - 10, stored=999)

    chart = status_figures(now=NOW)["chart"]

    assert chart["bucket_seconds"] == BUCKET_SECONDS
    assert len(chart["buckets"]) == WINDOW_SECONDS // BUCKET_SECONDS
    assert chart["buckets"][-1] == last
    users = chart["records_per_second"]["users"]
    assert users[-1] == 50 / BUCKET_SECONDS
    assert users[-1 - 60 // BUCKET_SECONDS] == 25 / BUCKET_SECONDS
    assert sum(users) == 75 / BUCKET_SECONDS
    assert sum(chart["records_per_second"]["coupons"]) == 10 / BUCKET_SECONDS
    assert sum(chart["records_per_second"]["events"]) == 0


def test_each_topic_has_its_rate_over_the_last_full_minute_and_its_totals_over_the_window():
    current = bucket_of(NOW)
    ConsumerStat.objects.create(topic="users", bucket=current, stored=7)
    ConsumerStat.objects.create(topic="users", bucket=current - 10, stored=50)
    ConsumerStat.objects.create(topic="users", bucket=current - 60, stored=10, dead_lettered=1)
    ConsumerStat.objects.create(topic="users", bucket=current - 70, stored=40, dead_lettered=2)

    users = topic(status_figures(now=NOW), "users")

    assert users["records_per_second"] == 1.0  # (50 + 10) / 60
    assert (users["stored_15m"], users["dead_lettered_15m"]) == (107, 3)


def test_lag_is_summed_over_partitions_and_marked_stale_when_not_reported_for_a_minute():
    lag_row(0, 5, seconds_ago=2)
    lag_row(1, 7, seconds_ago=3)
    lag_row(0, 4, seconds_ago=120, topic="events")

    report = status_figures(now=NOW)

    users, events = topic(report, "users"), topic(report, "events")
    assert (users["lag"], users["lag_stale"]) == (12, False)
    assert users["lag_reported_at"] == (MOMENT - timedelta(seconds=3)).isoformat()
    assert [p["partition"] for p in users["partitions"]] == [0, 1]
    assert (events["lag"], events["lag_stale"]) == (4, True)


def test_dead_letters_count_and_the_latest_five_with_reasons_but_never_their_values():
    for offset in range(7):
        DeadLetter.objects.create(
            topic="coupons",
            partition=0,
            offset=offset,
            reason=f"reason {offset} " + "x" * 500,
            value='{"secret": "the record itself"}',
            created_at=timezone.now() + timedelta(seconds=offset),
        )

    report = status_figures(now=NOW)

    assert report["dead_letters"]["count"] == 7
    assert topic(report, "coupons")["dead_letters"] == 7
    latest = report["dead_letters"]["latest"]
    assert [letter["offset"] for letter in latest] == [6, 5, 4, 3, 2]
    assert latest[0]["reason"].startswith("reason 6")
    assert len(latest[0]["reason"]) == figures.REASON_CHARS
    assert "the record itself" not in str(report)


def test_parked_coupons_count_and_the_oldest_ones_age():
    for coupon_id, minutes in ((1, 5), (2, 1)):
        ParkedCoupon.objects.create(
            coupon_id=coupon_id, payload={}, parked_at=MOMENT - timedelta(minutes=minutes)
        )

    parked = status_figures(now=NOW)["parked_coupons"]

    assert (parked["count"], parked["oldest_age_seconds"]) == (2, 300.0)


def test_recommendation_freshness_is_the_outbox_the_last_refresh_and_a_rebuild_in_progress():
    PendingRefresh.objects.create(scope="user", ref_id=1, created_at=MOMENT - timedelta(seconds=8))
    PendingRefresh.objects.create(scope="event", ref_id=2, created_at=MOMENT - timedelta(seconds=2))
    Recommendation.objects.create(
        user=UserFactory(), reason="r", engine="e", generated_at=MOMENT - timedelta(seconds=30)
    )
    RebuildRequest.objects.create(started_at=MOMENT, users_total=200, users_done=50)
    RebuildRequest.objects.create(finished_at=MOMENT, users_total=9, users_done=9)

    fresh = status_figures(now=NOW)["recommendations"]

    assert (fresh["pending_refreshes"], fresh["oldest_pending_age_seconds"]) == (2, 8.0)
    assert fresh["last_refresh_age_seconds"] == 30.0
    assert fresh["rebuild"]["state"] == "running"
    assert (fresh["rebuild"]["users_done"], fresh["rebuild"]["users_total"]) == (50, 200)


def test_nothing_owed_and_no_rebuild():
    fresh = status_figures(now=NOW)["recommendations"]
    assert fresh["pending_refreshes"] == 0
    assert fresh["oldest_pending_age_seconds"] is None
    assert fresh["last_refresh_at"] is None
    assert fresh["rebuild"] is None


def test_health_is_the_readiness_checks_with_secrets_masked(readiness_answers, settings):
    settings.KAFKA_SASL_PASSWORD = "hunter2-sasl"
    readiness_answers(database="ok", broker="unavailable: auth hunter2-sasl refused")

    health = status_figures(now=NOW)["health"]

    assert health["checks"] == {"database": "ok", "broker": "unavailable: auth ***** refused"}
