"""librdkafka properties passed through the environment, for the settings (docs/configuration.md).

Here, in the project package, because settings import no app: they are
read before any app is. `ingest.kafka.client_config` merges the result
(`settings.KAFKA_CLIENT_PROPERTIES`) into every client's configuration.
"""

import json
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

PASS_THROUGH_PREFIX = "KAFKA_CLIENT_"
PASS_THROUGH_JSON = "KAFKA_CLIENT_CONFIG"


def properties_from_environment(environ: Mapping[str, str]) -> dict:
    """librdkafka properties given as `KAFKA_CLIENT_CONFIG` (JSON) and `KAFKA_CLIENT_<PROPERTY>`.

    `KAFKA_CLIENT_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none` gives
    `ssl.endpoint.identification.algorithm`: underscores become dots, so a
    property whose name holds an underscore goes in the JSON variable
    instead. A variable wins over the same property in the JSON.
    """
    properties = {}
    raw = environ.get(PASS_THROUGH_JSON, "").strip()
    if raw:
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
    for name, value in sorted(environ.items()):
        if name.startswith(PASS_THROUGH_PREFIX) and name != PASS_THROUGH_JSON:
            prop = name.removeprefix(PASS_THROUGH_PREFIX).lower().replace("_", ".")
            if prop:
                properties[prop] = value
    return properties
