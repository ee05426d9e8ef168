"""librdkafka properties passed through the environment (betreco/kafka_environment.py).

The Kubernetes variables are the ones it sets for a service (its "discovery
variables"): `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT[_<PORT NAME>]`,
`<NAME>_PORT` and `<NAME>_PORT_<n>_TCP[_PROTO|_PORT|_ADDR]`.
"""

import pytest
from django.core.exceptions import ImproperlyConfigured

from betreco.kafka_environment import properties_from_environment
from tests.production.test_settings import production_settings, run_python


def test_pass_through_variables_become_dotted_lower_case_properties():
    environ = {
        "KAFKA_CLIENT_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "none",
        "KAFKA_CLIENT_CLIENT_RACK": "eu-1a",
        "KAFKA_BOOTSTRAP_SERVERS": "not-a-client-property:9092",
        "OTHER": "x",
    }
    assert properties_from_environment(environ) == {
        "ssl.endpoint.identification.algorithm": "none",
        "client.rack": "eu-1a",
    }


def test_json_gives_properties_whose_names_hold_underscores_and_variables_win():
    environ = {
        "KAFKA_CLIENT_CONFIG": '{"sasl.oauthbearer.client.id": "svc", "client.rack": "json"}',
        "KAFKA_CLIENT_CLIENT_RACK": "variable",
    }
    assert properties_from_environment(environ) == {
        "sasl.oauthbearer.client.id": "svc",
        "client.rack": "variable",
    }


@pytest.mark.parametrize("raw", ["{not json", '["client.rack", "x"]'])
def test_bad_json_names_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="KAFKA_CLIENT_CONFIG must be a JSON object"):
        properties_from_environment({"KAFKA_CLIENT_CONFIG": raw})


def kubernetes_service_variables(service: str, host: str = "10.96.14.7", port: int = 9092):
    """What Kubernetes sets in every pod of the namespace for a service with one named TCP port."""
    name = service.upper().replace("-", "_")
    return {
        f"{name}_SERVICE_HOST": host,
        f"{name}_SERVICE_PORT": str(port),
        f"{name}_SERVICE_PORT_CLIENT": str(port),
        f"{name}_PORT": f"tcp://{host}:{port}",
        f"{name}_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"{name}_PORT_{port}_TCP_PROTO": "tcp",
        f"{name}_PORT_{port}_TCP_PORT": str(port),
        f"{name}_PORT_{port}_TCP_ADDR": host,
    }


@pytest.mark.parametrize(
    "service", ["kafka-client", "kafka-client-sasl", "kafka-client-config", "kafka-client-ssl-ca"]
)
def test_kubernetes_service_variables_are_never_client_properties(service):
    environ = {**kubernetes_service_variables(service), "KAFKA_CLIENT_CLIENT_RACK": "eu-1a"}
    assert properties_from_environment(environ) == {"client.rack": "eu-1a"}


def test_a_pod_beside_a_service_named_kafka_client_starts(tmp_path):
    values = production_settings(
        tmp_path, "KAFKA_CLIENT_PROPERTIES", **kubernetes_service_variables("kafka-client")
    )
    assert values == {"KAFKA_CLIENT_PROPERTIES": {}}


@pytest.mark.parametrize(
    ("variable", "value", "refusal"),
    [
        (
            "KAFKA_CLIENT_SERVICE_HOSTNAME",
            "x",
            'No such configuration property: "service.hostname"',
        ),
        ("KAFKA_CLIENT_ACKS", "maybe", "Invalid value for configuration property"),
        (
            "KAFKA_CLIENT_CONFIG",
            '{"bogus.property": "1"}',
            'No such configuration property: "bogus.property"',
        ),
    ],
)
def test_an_unknown_property_is_refused_at_start_naming_the_variable(
    tmp_path, variable, value, refusal
):
    result = run_python("import django; django.setup()", tmp_path, **{variable: value})

    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"django.core.exceptions.ImproperlyConfigured: {variable}: {refusal}")
    assert "KafkaException" not in result.stderr
