"""Fixtures shared by the whole suite."""

import os
import threading

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from betreco.embedded_broker import EmbeddedBroker
from recommendations.drainer import drainer
from tests.kafka_pipeline import pipeline_on


@pytest.fixture(autouse=True)
def _background_work_done():
    """A test ends once the work its requests started in this process is done.

    The server's outbox drainer and a background rebuild (POST
    /recommendation/generate) run in threads; one still in a query when the
    test's tables are flushed deadlocks the flush on PostgreSQL.
    """
    yield
    drainer.wait_idle(30)
    for thread in threading.enumerate():
        if thread.name == "betreco-rebuild":
            thread.join(30)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def executor(transactional_db):
    """Migrations to run in this test; the schema is brought back to the latest after it."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """A real Kafka-protocol broker for the session: KAFKA_BOOTSTRAP_SERVERS, or an embedded one."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def pipeline(transactional_db, kafka_bootstrap, settings, tmp_path):
    """Topics of this test's own on the session's broker, and the consumers it starts."""
    line = pipeline_on(kafka_bootstrap, settings, tmp_path)
    yield line
    line.stop_all()
