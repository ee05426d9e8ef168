"""Fixtures shared by the whole suite."""

import os

import pytest
from rest_framework.test import APIClient

from betreco.embedded_broker import EmbeddedBroker


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """A real Kafka-protocol broker for the session: KAFKA_BOOTSTRAP_SERVERS, or an embedded one."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers
