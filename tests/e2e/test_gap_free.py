"""A live consumer never moves past a record it has not received (docs/consumers.md: gap-free).

The embedded broker reserves a produce request's offsets before it writes
its batch, so a fetch in that window can return a later batch first. These
tests drive that window open (many concurrent idempotent producers into
one partition, the broker's runtime given more threads than the machine
has cores) while a consumer tails the topic, and check that every record
the broker acknowledged is stored.
"""

import threading

import pytest
from confluent_kafka import Producer

from betreco.embedded_broker import EmbeddedBroker
from ingest.models import User
from tests.kafka_pipeline import Pipeline, pipeline_on, wait_until
from tests.records import user

PRODUCERS = 16
RECORDS_PER_PRODUCER = 1_500
BURST = 10  # records produced before each flush, as the producer endpoint does with an array


@pytest.fixture
def racy_pipeline(transactional_db, settings, tmp_path):
    """A broker of this test's own whose runtime has 16 threads, topics of one partition."""
    with EmbeddedBroker(env={"TOKIO_WORKER_THREADS": "16"}) as broker:
        line = pipeline_on(broker.bootstrap_servers, settings, tmp_path, partitions=1)
        yield line
        line.stop_all()


def produce_concurrently(pipeline: Pipeline, first_id: int) -> list[tuple[int, int]]:
    """16 idempotent producers write users at once; the (id, offset) of each acknowledged one."""
    acknowledged: list[tuple[int, int]] = []
    lock = threading.Lock()

    def producer_thread(number: int) -> None:
        producer = Producer(
            {
                "bootstrap.servers": pipeline.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 1,
            }
        )

        def delivered(error, message):
            if error is None:
                with lock:
                    acknowledged.append((int(message.key()), message.offset()))

        start = first_id + number * RECORDS_PER_PRODUCER
        for burst in range(0, RECORDS_PER_PRODUCER, BURST):
            for pk in range(start + burst, start + burst + BURST):
                producer.produce(
                    pipeline.topic("users"),
                    key=str(pk).encode(),
                    value=Pipeline.encode("users", user(pk)),
                    headers=Pipeline.headers("users"),
                    on_delivery=delivered,
                )
            producer.flush(30)

    threads = [threading.Thread(target=producer_thread, args=(n,)) for n in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged


@pytest.mark.kafka
def test_a_tailing_consumer_stores_every_record_concurrent_producers_had_acknowledged(
    racy_pipeline,
):
    consumer = racy_pipeline.start_consumer("users")
    wait_until(lambda: "assigned" in consumer.log, timeout=30, what="the consumer to be assigned")
    acknowledged = produce_concurrently(racy_pipeline, first_id=1_000_000)
    assert len(acknowledged) == PRODUCERS * RECORDS_PER_PRODUCER
    ids = {pk for pk, _ in acknowledged}

    def all_stored():
        return User.objects.filter(id__in=ids).count() == len(ids)

    try:
        wait_until(all_stored, timeout=120, interval=0.5, what="every acknowledged user stored")
    except BaseException:
        stored = set(User.objects.filter(id__in=ids).values_list("id", flat=True))
        missing = sorted(offset for pk, offset in acknowledged if pk not in stored)
        pytest.fail(
            f"{len(missing)} acknowledged users not stored, offsets {missing[:50]}; "
            f"consumer log:\n{consumer.log[-3000:]}"
        )
    # The gaps the broker opened were read once it had written them, none accepted as empty.
    assert "accepting the gap" not in consumer.log, consumer.log
    print(f"gaps sought back over: {consumer.log.count('not received yet')}")
