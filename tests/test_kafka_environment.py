"""librdkafka properties passed through the environment (betreco/kafka_environment.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from betreco.kafka_environment import properties_from_environment


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
