"""The status page's figures, read from the database and the readiness checks (reads only read).

Everything here is a few indexed reads or aggregates, so the page may ask
every few seconds. What consumers did comes from the rows they report
(`ingest.kafka.reporting`), so any process can serve the page.
"""

import re
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Max, Min

from ingest.health import readiness
from ingest.kafka.client_config import MASK, SECRET_MARKERS
from ingest.kafka.reporting import BUCKET_SECONDS, bucket_of
from ingest.kafka.topics import RECORD_KINDS, topic_name
from ingest.models import ConsumerStat, DeadLetter, ParkedCoupon, PartitionLag
from recommendations.models import PendingRefresh, Recommendation
from recommendations.rebuild import rebuild_current

WINDOW_SECONDS = 15 * 60
REFRESH_SECONDS = 3.0  # how often the page asks again
RATE_SECONDS = 60  # "records/s now" is the mean over the last minute
LAG_STALE_SECONDS = 60  # a partition's lag reported longer ago than this is marked stale
LATEST_DEAD_LETTERS = 5
REASON_CHARS = 300
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def status_figures(*, now: float | None = None) -> dict:
    """Every figure of the page, as JSON-ready values (times in ISO 8601, ages in seconds)."""
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(now, tz=UTC)
    topics = [topic_name(kind) for kind in RECORD_KINDS]
    throughput = throughput_figures(topics, now=now)
    lag = lag_figures(topics, moment=moment)
    dead = dead_letter_counts(topics)
    return {
        "generated_at": moment.isoformat(),
        "health": health_figures(),
        "topics": [
            {
                "topic": topic,
                "kind": kind,
                "records_per_second": throughput["now"][topic],
                "stored_15m": throughput["stored"][topic],
                "dead_lettered_15m": throughput["dead_lettered"][topic],
                "dead_letters": dead.get(topic, 0),
                **lag[topic],
            }
            for kind, topic in zip(RECORD_KINDS, topics, strict=True)
        ],
        "chart": throughput["chart"],
        "dead_letters": dead_letter_figures(),
        "parked_coupons": parked_figures(moment=moment),
        "recommendations": recommendation_figures(moment=moment),
    }


def throughput_figures(topics: list[str], *, now: float) -> dict:
    """Records/s per topic in each full bucket of the window, its totals, the last minute's rate.

    The chart and the rate end with the last full bucket: the one filling
    now would read as a drop. The totals count it too, so they move at once.
    """
    current = bucket_of(now)
    last = current - BUCKET_SECONDS
    first = current - WINDOW_SECONDS
    buckets = list(range(first, last + BUCKET_SECONDS, BUCKET_SECONDS))
    index = {bucket: i for i, bucket in enumerate(buckets)}
    series = {topic: [0.0] * len(buckets) for topic in topics}
    stored = dict.fromkeys(topics, 0)
    dead = dict.fromkeys(topics, 0)
    recent = dict.fromkeys(topics, 0)
    rows = ConsumerStat.objects.filter(
        topic__in=topics, bucket__gte=first, bucket__lte=current
    ).values_list("topic", "bucket", "stored", "dead_lettered")
    for topic, bucket, stored_here, dead_here in rows:
        stored[topic] += stored_here
        dead[topic] += dead_here
        if bucket in index:
            series[topic][index[bucket]] = round(stored_here / BUCKET_SECONDS, 2)
        if last - RATE_SECONDS < bucket <= last:  # the last minute's full buckets
            recent[topic] += stored_here
    return {
        "chart": {
            "bucket_seconds": BUCKET_SECONDS,
            "window_seconds": WINDOW_SECONDS,
            "buckets": buckets,
            "records_per_second": series,
        },
        "stored": stored,
        "dead_lettered": dead,
        "now": {topic: round(recent[topic] / RATE_SECONDS, 2) for topic in topics},
    }


def lag_figures(topics: list[str], *, moment: datetime) -> dict:
    """Per topic: the lag its consumers last reported, summed over partitions, and how old."""
    figures = {
        topic: {"lag": None, "lag_reported_at": None, "lag_stale": False, "partitions": []}
        for topic in topics
    }
    for row in PartitionLag.objects.filter(topic__in=topics).order_by("topic", "partition"):
        age = (moment - row.reported_at).total_seconds()
        topic = figures[row.topic]
        topic["lag"] = (topic["lag"] or 0) + row.lag
        stale = age > LAG_STALE_SECONDS
        topic["lag_stale"] = topic["lag_stale"] or stale
        if topic["lag_reported_at"] is None or row.reported_at < topic["lag_reported_at"]:
            topic["lag_reported_at"] = row.reported_at
        topic["partitions"].append(
            {
                "partition": row.partition,
                "lag": row.lag,
                "end_offset": row.end_offset,
                "committed": row.committed,
                "reported_at": row.reported_at.isoformat(),
                "stale": stale,
            }
        )
    for topic in figures.values():
        if topic["lag_reported_at"] is not None:
            topic["lag_reported_at"] = topic["lag_reported_at"].isoformat()
    return figures


def dead_letter_counts(topics: list[str]) -> dict[str, int]:
    return dict(
        DeadLetter.objects.filter(topic__in=topics)
        .values_list("topic")
        .annotate(count=Count("id"))
        .values_list("topic", "count")
    )


def dead_letter_figures() -> dict:
    """How many dead letters there are, and the latest few with their reasons (never values)."""
    latest = DeadLetter.objects.order_by("-created_at", "-id")[:LATEST_DEAD_LETTERS]
    return {
        "count": DeadLetter.objects.count(),
        "latest": [
            {
                "topic": letter.topic,
                "partition": letter.partition,
                "offset": letter.offset,
                "reason": redact(letter.reason)[:REASON_CHARS],
                "created_at": letter.created_at.isoformat(),
                "published": letter.published_at is not None,
            }
            for letter in latest
        ],
    }


def parked_figures(*, moment: datetime) -> dict:
    oldest = ParkedCoupon.objects.aggregate(count=Count("pk"), oldest=Min("parked_at"))
    return {
        "count": oldest["count"],
        "oldest_age_seconds": _age(oldest["oldest"], moment),
        "timeout_seconds": settings.PARKED_TIMEOUT_SECONDS,
    }


def recommendation_figures(*, moment: datetime) -> dict:
    """The refresh outbox (rows owed, the oldest's age), the last refresh and any full rebuild."""
    owed = PendingRefresh.objects.aggregate(count=Count("pk"), oldest=Min("created_at"))
    last = Recommendation.objects.aggregate(last=Max("generated_at"))["last"]
    rebuild = rebuild_current()
    return {
        "pending_refreshes": owed["count"],
        "oldest_pending_age_seconds": _age(owed["oldest"], moment),
        "last_refresh_at": last.isoformat() if last else None,
        "last_refresh_age_seconds": _age(last, moment),
        "rebuild": None
        if rebuild is None
        else {
            "id": rebuild.pk,
            "state": "running" if rebuild.started_at else "requested",
            "requested_at": rebuild.requested_at.isoformat(),
            "users_done": rebuild.users_done,
            "users_total": rebuild.users_total,
        },
    }


def health_figures() -> dict:
    """The readiness checks (as `/readyz`), with any configured secret masked out of the answers."""
    answer = readiness().as_dict()
    answer["checks"] = {name: redact(text) for name, text in answer["checks"].items()}
    return answer


def redact(text: str) -> str:
    """`text` without any secret of the settings in it (an error message may quote one).

    Every configured secret is masked wherever it appears, and so is the
    password of any `scheme://user:password@host` in the text.
    """
    for secret in configured_secrets():
        text = text.replace(secret, MASK)
    return URL_PASSWORD.sub(rf"\1{MASK}@", text)


def configured_secrets() -> list[str]:
    """The secrets the settings hold, longest first (so none is half-masked by a shorter one)."""
    secrets = [
        settings.SECRET_KEY,
        settings.KAFKA_SASL_PASSWORD,
        settings.KAFKA_SSL_KEY_PASSWORD,
        settings.METRICS_TOKEN,
        *settings.API_KEYS,
        *(database.get("PASSWORD") or "" for database in settings.DATABASES.values()),
        *(cache.get("PASSWORD") or "" for cache in settings.CACHES.values()),
        *(
            str(value)
            for prop, value in settings.KAFKA_CLIENT_PROPERTIES.items()
            if any(marker in prop.lower() for marker in SECRET_MARKERS)
        ),
    ]
    return sorted({secret for secret in secrets if len(secret) >= 4}, key=len, reverse=True)


def _age(then: datetime | None, moment: datetime) -> float | None:
    if then is None:
        return None
    return round(max((moment - then).total_seconds(), 0.0), 1)
