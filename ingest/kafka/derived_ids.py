"""Ids for records that arrive on a topic without one: the same on every replay, never met twice.

A derived id (`ingest.ids.derived_id`) is a range's number above the low
32 bits of the message's offset. The range belongs to the message's topic,
the topic's incarnation, its partition and offset >> 32 (`RangeKey`); its
number comes from the database (`ingest.ids.range_numbers`) and never
changes once written. The incarnation is the topic id the broker reports:
a topic deleted and created again, or every topic of a broker that started
again empty (the embedded broker keeps nothing), has a new one, so its
offsets starting again at 0 give new ids instead of those of the rows
already stored (docs/records.md, "Derived ids").

`DerivedIds.ids_for` resolves a batch's places at once: the topic ids and
range numbers it knows are cached for the life of the process (a range's
number never changes), so a batch touches the broker or the database only
for a topic or range it has not seen yet.
"""

import logging
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError, KafkaException, TopicCollection

from ingest.ids import RangeKey, derived_id, range_numbers
from ingest.kafka.admin import admin_client

logger = logging.getLogger(__name__)

DESCRIBE_TIMEOUT = 10.0
Place = tuple[str, int, int]  # topic, partition, offset
# A broker that cannot describe topics at all (older than KIP-516) has no topic ids.
NO_TOPIC_IDS = {KafkaError.UNSUPPORTED_VERSION, KafkaError._UNSUPPORTED_FEATURE}


class TopicIds:
    """The broker's id of each topic's current incarnation, asked once per topic and cached.

    `forget` drops topics whose partitions were (re)assigned, so that the
    next lookup asks again: a topic recreated, or a broker that restarted,
    comes back to a consumer as a new assignment. A broker that reports no
    topic id gives "" (the ids of such a topic do not survive its
    recreation), said once per topic in a WARNING.
    """

    def __init__(self, bootstrap_servers: str | None = None):
        self.bootstrap_servers = bootstrap_servers
        self._admin = None
        self._ids: dict[str, str] = {}
        self._warned: set[str] = set()

    def get(self, topics: Iterable[str]) -> dict[str, str]:
        """Each topic's id; raises KafkaException when the broker does not answer."""
        unknown = sorted(set(topics) - self._ids.keys())
        if unknown:
            for topic, topic_id in self._describe(unknown).items():
                if not topic_id and topic not in self._warned:
                    self._warned.add(topic)
                    logger.warning(
                        "the broker reports no topic id for %s: ids derived for its records "
                        "without an id will repeat those of its earlier records if the topic "
                        "is recreated or the broker restarts empty "
                        "(docs/records.md, 'Derived ids')",
                        topic,
                    )
                self._ids[topic] = topic_id
        return {topic: self._ids[topic] for topic in topics}

    def forget(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self._ids.pop(topic, None)

    def _describe(self, topics: list[str]) -> dict[str, str]:
        if self._admin is None:
            self._admin = admin_client(self.bootstrap_servers)
        futures = self._admin.describe_topics(
            TopicCollection(topics), request_timeout=DESCRIBE_TIMEOUT
        )
        ids = {}
        try:
            for topic, future in futures.items():
                try:
                    ids[topic] = _text(future.result(timeout=DESCRIBE_TIMEOUT).topic_id)
                except KafkaException as error:
                    if error.args[0].code() not in NO_TOPIC_IDS:
                        raise
                    ids[topic] = ""
        finally:
            self._admin.poll(0)  # its log lines and errors (ingest.kafka.logs)
        return ids


def _text(topic_id) -> str:
    """A topic id as text; "" for none (a broker without topic ids sends all zeros)."""
    if topic_id is None:
        return ""
    if topic_id.get_most_significant_bits() == 0 and topic_id.get_least_significant_bits() == 0:
        return ""
    return str(topic_id)


class DerivedIds:
    """Derives the ids of a batch's id-less records from their messages' places; one per consumer.

    `topic_ids`: a callable from topic names to their ids (`TopicIds.get`);
    tests give their own.
    """

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        *,
        topic_ids: Callable[[Iterable[str]], dict[str, str]] | None = None,
    ):
        self.topics = TopicIds(bootstrap_servers)
        self._topic_ids = topic_ids or self.topics.get
        self._numbers: dict[RangeKey, int] = {}

    def ids_for(self, places: Iterable[Place]) -> dict[Place, int]:
        """Each place's id: one broker request for unknown topics, one allocation for new ranges.

        Raises KafkaException when the broker cannot be asked, the
        database's errors when the database is unavailable (both retried by
        the consumer, with the batch held), DerivedIdsExhausted when the
        range numbers run out.
        """
        places = list(places)
        if not places:
            return {}
        topic_ids = self._topic_ids({topic for topic, _, _ in places})
        keys = {
            place: RangeKey.of(place[0], topic_ids[place[0]], place[1], place[2])
            for place in places
        }
        unknown = set(keys.values()) - self._numbers.keys()
        if unknown:
            self._numbers |= range_numbers(unknown)
        return {place: derived_id(self._numbers[key], place[2]) for place, key in keys.items()}

    def forget_topics(self, topics: Iterable[str]) -> None:
        """Ask the broker again for these topics' ids (their partitions were just assigned)."""
        self.topics.forget(topics)
