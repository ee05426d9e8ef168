"""Topic administration: make sure every record topic and its dead-letter topic exist.

Producers and consumers call `ensure_topics` at start so a fresh broker (the
embedded one starts empty) has the topics with the configured partition
count and replication factor (`KAFKA_TOPIC_PARTITIONS`,
`KAFKA_TOPIC_REPLICATION_FACTOR`), rather than whatever a broker's
auto-create would choose.
"""

import logging
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from ingest.kafka.backoff import retry
from ingest.kafka.client_config import client_config
from ingest.kafka.logs import with_logging
from ingest.kafka.topics import RECORD_KINDS, dead_letter_topic, topic_name

logger = logging.getLogger(__name__)


def admin_client(bootstrap_servers: str | None = None) -> AdminClient:
    return AdminClient(with_logging(client_config(bootstrap_servers=bootstrap_servers)))


def wait_for_broker(
    bootstrap_servers: str, *, should_stop: Callable[[], bool], timeout: float = 2.0
) -> None:
    """Return once the broker answers a metadata request; one log line per attempt until then.

    One client for all attempts, so a slow connection (TLS, SASL) is not
    started over each time: librdkafka keeps connecting in the background.
    """
    admin = admin_client(bootstrap_servers)

    def answers() -> None:
        try:
            admin.list_topics(timeout=timeout)
        finally:
            admin.poll(0)  # its log lines and errors, rate-limited (ingest.kafka.logs)

    retry(
        answers,
        what="connecting to the broker",
        waiting_for=f"the Kafka broker at {bootstrap_servers}",
        retry_on=(KafkaException,),
        should_stop=should_stop,
    )


def topic_names(kinds: Iterable[str] = RECORD_KINDS) -> list[str]:
    """The topics for `kinds` and their dead-letter topics."""
    names = []
    for kind in kinds:
        names += [topic_name(kind), dead_letter_topic(topic_name(kind))]
    return names


def ensure_topics(
    bootstrap_servers: str | None = None,
    kinds: Iterable[str] = RECORD_KINDS,
    *,
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout: float = 15.0,
) -> list[str]:
    """Create the topics of `kinds` (and their .dlq) that do not exist yet; return those created.

    Idempotent: existing topics are left as they are, and a concurrent
    creation by another process ("topic already exists") counts as success.
    """
    admin = admin_client(bootstrap_servers)
    wanted = topic_names(kinds)
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    partitions = partitions or settings.KAFKA_TOPIC_PARTITIONS
    replication_factor = replication_factor or settings.KAFKA_TOPIC_REPLICATION_FACTOR
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
            for name in missing
        ],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    if created:
        logger.info(
            "created topics %s (%d partitions, replication factor %d each)",
            ", ".join(created),
            partitions,
            replication_factor,
        )
    return created
