"""ingest.health and `manage.py readiness`: the checks behind /readyz and the consumers'
compose healthcheck."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection

from betreco.embedded_broker import free_port
from ingest.health import Readiness, readiness

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_up(kafka_bootstrap, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap


@pytest.fixture
def broker_down(settings):
    """A closed port as the broker."""
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{free_port()}"


@pytest.fixture
def database_down(monkeypatch):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", refuse)


@pytest.mark.kafka
def test_ready_when_the_database_and_the_broker_answer(broker_up):
    result = readiness()

    assert result.ready
    assert result.as_dict() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_not_ready_while_the_broker_is_down(broker_down):
    result = readiness()

    assert not result.ready
    assert result.checks["database"] == "ok"
    assert result.checks["broker"].startswith("unavailable: ")


def test_not_ready_while_the_database_is_down(broker_down, database_down):
    result = readiness()

    assert result.checks["database"] == "unavailable: connection refused"
    assert result.as_dict()["status"] == "unavailable"


def test_ready_only_when_every_check_is_ok():
    assert Readiness({"database": "ok", "broker": "ok"}).ready
    assert not Readiness({"database": "ok", "broker": "unavailable: timed out"}).ready


@pytest.mark.kafka
def test_the_command_prints_the_checks_and_succeeds_when_ready(broker_up, capsys):
    call_command("readiness")

    assert json.loads(capsys.readouterr().out)["status"] == "ready"


def test_the_command_fails_naming_the_check_that_failed(broker_down, capsys):
    with pytest.raises(CommandError, match=r"not ready: broker unavailable: "):
        call_command("readiness")

    assert json.loads(capsys.readouterr().out)["checks"]["database"] == "ok"
