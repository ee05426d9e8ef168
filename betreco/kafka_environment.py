"""librdkafka properties passed through the environment, for the settings (docs/configuration.md).

Here, in the project package, because settings import no app: they are
read before any app is. `ingest.kafka.client_config` merges the result
(`settings.KAFKA_CLIENT_PROPERTIES`) into every client's configuration.

Kubernetes injects variables for every service of the namespace
(`<NAME>_SERVICE_HOST`, `<NAME>_PORT_9092_TCP`, ...): a service named
`kafka-client` gives `KAFKA_CLIENT_SERVICE_HOST`, which would read as the
property `service.host`. Those shapes are never properties, whatever the
service is called; any other name librdkafka does not know is refused here,
at start, naming the variable.
"""

import json
import re
from collections.abc import Mapping

from confluent_kafka import KafkaException, Producer
from django.core.exceptions import ImproperlyConfigured

PASS_THROUGH_PREFIX = "KAFKA_CLIENT_"
PASS_THROUGH_JSON = "KAFKA_CLIENT_CONFIG"
# How librdkafka words a property it does not know, or a value it does not take.
REFUSALS = ("No such configuration property", "Invalid value")

# The variables Kubernetes sets for a service NAME (its discovery variables):
# NAME_SERVICE_HOST, NAME_SERVICE_PORT, NAME_SERVICE_PORT_<PORT NAME>, NAME_PORT,
# NAME_PORT_<n>_<PROTOCOL>, NAME_PORT_<n>_<PROTOCOL>_PROTO|_PORT|_ADDR.
KUBERNETES_SERVICE_VARIABLE = re.compile(
    r"(^|_)(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$"
)


def is_kubernetes_service_variable(name: str) -> bool:
    return KUBERNETES_SERVICE_VARIABLE.search(name) is not None


def properties_from_environment(environ: Mapping[str, str]) -> dict:
    """librdkafka properties given as `KAFKA_CLIENT_CONFIG` (JSON) and `KAFKA_CLIENT_<PROPERTY>`.

    `KAFKA_CLIENT_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none` gives
    `ssl.endpoint.identification.algorithm`: underscores become dots, so a
    property whose name holds an underscore goes in the JSON variable
    instead. A variable wins over the same property in the JSON. Kubernetes'
    service variables are skipped; raises ImproperlyConfigured, naming the
    variable, for a property or value librdkafka refuses.
    """
    properties = _json_properties(environ)
    sources = dict.fromkeys(properties, PASS_THROUGH_JSON)
    for name, value in sorted(environ.items()):
        if not name.startswith(PASS_THROUGH_PREFIX) or name == PASS_THROUGH_JSON:
            continue
        if is_kubernetes_service_variable(name):
            continue
        prop = name.removeprefix(PASS_THROUGH_PREFIX).lower().replace("_", ".")
        if prop:
            properties[prop] = value
            sources[prop] = name
    for prop, value in properties.items():
        _check(prop, value, sources[prop])
    return properties


def _json_properties(environ: Mapping[str, str]) -> dict:
    raw = environ.get(PASS_THROUGH_JSON, "").strip()
    if not raw:
        return {}
    try:
        properties = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(
            f"{PASS_THROUGH_JSON} must be a JSON object of librdkafka properties: {error}"
        ) from error
    if not isinstance(properties, dict):
        raise ImproperlyConfigured(
            f"{PASS_THROUGH_JSON} must be a JSON object of librdkafka properties, "
            f'e.g. {{"client.rack": "eu-1a"}}, not {type(properties).__name__}.'
        )
    return properties


def _check(prop: str, value, variable: str) -> None:
    """Refuse, naming `variable`, a property (or value) librdkafka does not take.

    librdkafka lists no properties, so a client that connects nowhere is
    made with it alone (a few milliseconds, its log silenced): its refusal
    is the authority, whatever the library's version. Only a refused name or
    value counts here: a property that needs others beside it (OIDC, say)
    is checked with them when the service makes its clients.
    """
    try:
        Producer({"log_level": 0, prop: value})
    except KafkaException as error:
        reason = error.args[0].str() if error.args else str(error)
        if not reason.startswith(REFUSALS):
            return
        raise ImproperlyConfigured(
            f"{variable}: {reason}. Pass-through variables are librdkafka client "
            "properties (docs/production.md, 'Managed Kafka'); unset it or fix its name."
        ) from None
