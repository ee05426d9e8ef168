"""The one place where Kafka client configuration is built (docs/production.md, "Managed Kafka").

Every client the service makes (the producer and its readiness probe, the
consumer, the admin client, the dead-letter producer, `kafka_status`) gets
its librdkafka properties from `client_config`, which merges, the later
winning:

1. pass-through properties from the environment (`KAFKA_CLIENT_CONFIG`, a
   JSON object, then every `KAFKA_CLIENT_<PROPERTY>` variable), collected
   in `settings.KAFKA_CLIENT_PROPERTIES` (`betreco/kafka_environment.py`);
2. the named settings (`KAFKA_SECURITY_PROTOCOL`, `KAFKA_SSL_*`, `KAFKA_SASL_*`);
3. the bootstrap servers;
4. the client's own properties (`group.id`, `acks`, ...): what the service's
   guarantees rest on is not for the environment to change.

Configurations may hold secrets: log them only through `redacted`.
"""

import logging
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# Setting (and environment variable) -> librdkafka property.
NAMED_SETTINGS = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    "KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "KAFKA_SSL_KEY_LOCATION": "ssl.key.location",
    "KAFKA_SSL_KEY_PASSWORD": "ssl.key.password",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
}

SECRET_MARKERS = ("password", "secret", "key")
MASK = "*****"


def client_config(
    properties: Mapping | None = None, *, bootstrap_servers: str | None = None
) -> dict:
    """librdkafka configuration for a client of this service: the environment's, then `properties`.

    Raises ImproperlyConfigured, naming the variable, for an unknown security
    protocol or SASL mechanism and for SASL without a username or password.
    """
    config = dict(settings.KAFKA_CLIENT_PROPERTIES)
    for name, prop in NAMED_SETTINGS.items():
        value = getattr(settings, name, "")
        if value:
            config[prop] = value
    _validate(config)
    config["bootstrap.servers"] = bootstrap_servers or settings.KAFKA_BOOTSTRAP_SERVERS
    config.update(properties or {})
    return config


def _validate(config: dict) -> None:
    protocol = str(config.get("security.protocol", "PLAINTEXT")).upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ImproperlyConfigured(
            f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)}, "
            f"not {config['security.protocol']!r}."
        )
    if "security.protocol" in config:
        config["security.protocol"] = protocol
    mechanism = str(config.get("sasl.mechanism") or config.get("sasl.mechanisms") or "").upper()
    if not protocol.startswith("SASL_"):
        if mechanism:
            raise ImproperlyConfigured(
                f"KAFKA_SASL_MECHANISM is {mechanism} but KAFKA_SECURITY_PROTOCOL is {protocol}: "
                "set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT) to authenticate."
            )
        return
    if mechanism not in SASL_MECHANISMS:
        raise ImproperlyConfigured(
            f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)} with "
            f"KAFKA_SECURITY_PROTOCOL={protocol}, not {mechanism or 'unset'}."
        )
    if "sasl.mechanism" in config:
        config["sasl.mechanism"] = mechanism
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        if not config.get(NAMED_SETTINGS[name]):
            raise ImproperlyConfigured(
                f"{name} is not set: KAFKA_SASL_MECHANISM={mechanism} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD."
            )


def redacted(config: Mapping) -> dict:
    """`config` fit for a log line: values of keys naming a password, secret or key masked."""
    return {
        key: MASK if any(marker in key.lower() for marker in SECRET_MARKERS) and value else value
        for key, value in config.items()
    }
