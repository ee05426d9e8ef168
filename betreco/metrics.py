"""Every Prometheus metric the service exports, defined here and only here (docs/operations.md).

The consumer loop, the producer, the outbox drains and the HTTP middleware
update them; `GET /metrics` (the API and producer roles) and
`consume_topic --metrics-port` serve them. Under gunicorn each worker is a
process of its own: docker/gunicorn.conf.py points `PROMETHEUS_MULTIPROC_DIR`
at a fresh folder, prometheus_client then keeps every value in a file there,
and `/metrics` sums the files of all workers, so whichever worker answers
reports the whole server. Without it (runserver, tests, a consumer) the
values live in this process and its default registry serves them.

Labels stay bounded: `topic` is a consumed or produced topic's name,
`partition` one of its partitions, `view` a URL pattern of the project (or
`unmatched`), `method` one of a few HTTP methods, `status` a status code.
"""

import hmac
import logging
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

logger = logging.getLogger(__name__)

# Batches and refreshes take from milliseconds (a few records) to seconds (5,000).
SLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Consumers (ingest/kafka/reporting.py, offsets.py, parked.py, drains.py).
RECORDS_STORED = Counter(
    "betreco_records_stored",
    "Consumed records stored in the database (parked coupons included), by topic.",
    ["topic"],
)
DEAD_LETTERS = Counter(
    "betreco_dead_letters",
    "Records sent to the dead-letter topic (invalid, or parked past their time), by source topic.",
    ["topic"],
)
OFFSET_GAPS = Counter(
    "betreco_offset_gaps",
    "Fetches that skipped offsets of a partition (the consumer sought back), by topic.",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "betreco_consumer_lag",
    "Messages of a partition assigned to this consumer not yet committed by its group.",
    ["topic", "partition"],
    multiprocess_mode="livemax",
)
PARKED_COUPONS = Gauge(
    "betreco_parked_coupons",
    "Coupons waiting in the database for their user or events (set by consumers).",
    multiprocess_mode="livemax",
)
BATCH_DURATION = Histogram(
    "betreco_batch_duration_seconds",
    "Time to store a consumed batch in one transaction, publish its dead letters and commit.",
    buckets=SLOW_BUCKETS,
)
OUTBOX_DRAIN_DURATION = Histogram(
    "betreco_outbox_drain_seconds",
    "Time of one outbox drain run by a consumer (drains registered in ingest.hooks), by drain.",
    ["drain"],
    buckets=SLOW_BUCKETS,
)

# Recommendations (recommendations/outbox.py).
RECOMMENDATION_REFRESH = Histogram(
    "betreco_recommendation_refresh_seconds",
    "Time of one recommendation refresh that had work to do (plan, rebuild, write).",
    buckets=SLOW_BUCKETS,
)

# The producer (ingest/kafka/producer.py).
PRODUCED_RECORDS = Counter(
    "betreco_produced_records",
    "Records published and acknowledged by the broker, by topic.",
    ["topic"],
)
PRODUCE_FAILURES = Counter(
    "betreco_produce_failures",
    "Publish calls answered 503 (the broker refused or did not acknowledge in time), by topic.",
    ["topic"],
)
PRODUCE_DURATION = Histogram(
    "betreco_produce_duration_seconds",
    "Time from handing a request's records to the producer until every one is acknowledged.",
    ["topic"],
)

# HTTP (betreco/middleware.py).
HTTP_REQUESTS = Counter(
    "betreco_http_requests",
    "HTTP requests answered, by view (URL pattern), method and status code.",
    ["view", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "betreco_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL pattern).",
    ["view"],
)


# The series of each topic a process serves exist from the start, at 0 (`start_series`):
# a consumer's (ingest/kafka/reporting.py) and a web role's producer's (ingest/producer_apis.py).
CONSUMER_TOPIC_METRICS = (RECORDS_STORED, DEAD_LETTERS, OFFSET_GAPS)
PRODUCER_TOPIC_METRICS = (PRODUCED_RECORDS, PRODUCE_FAILURES, PRODUCE_DURATION)


def start_series(metrics, topics) -> None:
    """Create each metric's series for each topic now, so a scrape shows 0, not nothing."""
    for metric in metrics:
        for topic in topics:
            metric.labels(topic)


def multiprocess_dir() -> str | None:
    """The folder shared by a gunicorn server's workers, when there is one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """Every metric in Prometheus text format: all workers' sum under gunicorn."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_view(request):
    """`GET /metrics`: Prometheus text format; in production only for METRICS_TOKEN's holder.

    Prometheus sends the token with its scrape config's `authorization`
    setting (docs/operations.md, "Metrics"). Without METRICS_TOKEN set,
    production settings refuse every scrape of the web roles.
    """
    if settings.REQUIRE_CREDENTIALS:
        refusal = _scrape_refusal(request)
        if refusal is not None:
            return refusal
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def _scrape_refusal(request) -> JsonResponse | None:
    if not settings.METRICS_TOKEN:
        return JsonResponse(
            {"detail": "Metrics are off: set METRICS_TOKEN and scrape with it as a bearer token."},
            status=403,
        )
    given = request.headers.get("Authorization", "").encode()
    if hmac.compare_digest(given, f"Bearer {settings.METRICS_TOKEN}".encode()):
        return None
    refusal = JsonResponse(
        {"detail": "Metrics need 'Authorization: Bearer <METRICS_TOKEN>'."}, status=401
    )
    refusal["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return refusal


def serve(port: int, host: str):
    """Serve `/metrics` from a thread of this process (a consumer); returns the server."""
    server, _thread = start_http_server(port, addr=host)
    logger.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
