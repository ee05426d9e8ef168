"""Readiness: can this process reach the database and the Kafka broker?

One check, behind `GET /readyz` (the API and the producer) and `manage.py readiness`
(the consumers' container healthcheck), so both mean the same thing by "ready".
"""

from dataclasses import dataclass

from django.db import connection

from ingest.kafka.producer import broker_status


@dataclass(frozen=True)
class Readiness:
    """Each check's answer: "ok", or "unavailable: why"."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(answer == "ok" for answer in self.checks.values())

    def as_dict(self) -> dict:
        return {"status": "ready" if self.ready else "unavailable", "checks": self.checks}


def database_status() -> str:
    """'ok' when the default database answers `SELECT 1`, else 'unavailable: why'."""
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready"; report it
        return f"unavailable: {error}"
    return "ok"


def readiness() -> Readiness:
    """The database and the broker, checked now (the broker's answer is cached 2 s)."""
    return Readiness({"database": database_status(), "broker": broker_status()})
