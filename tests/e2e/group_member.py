"""A bare group member with the consumer's own client configuration, until SIGTERM.

`python -m tests.e2e.group_member TOPIC...` (DJANGO_SETTINGS_MODULE set): it
reads and commits as a consumer does, but stores nothing, so a test can
churn a group's membership quickly and see what the assignment strategy
does with it. Prints "assigned" on each assignment.
"""

import contextlib
import signal
import sys

import django

django.setup()

from confluent_kafka import Consumer, KafkaException  # noqa: E402

from ingest.kafka.consumer import ConsumerOptions, consumer_config  # noqa: E402


def main(topics: list[str]) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer(consumer_config(ConsumerOptions(topics=topics)))
    consumer.subscribe(topics, on_assign=lambda *_: print("assigned", flush=True))
    while not stopping:
        if consumer.consume(500, 0.2):
            with contextlib.suppress(KafkaException):  # a rebalance under way: next time
                consumer.commit(asynchronous=False)
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
