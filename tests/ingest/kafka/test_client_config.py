"""Kafka client configuration from the environment, built in one place (client_config)."""

import logging
from types import SimpleNamespace

import pytest
from confluent_kafka import Consumer, Producer
from django.core.exceptions import ImproperlyConfigured

from betreco.embedded_broker import free_port
from ingest.kafka import admin, dead_letter, producer
from ingest.kafka.client_config import (
    MASK,
    NAMED_SETTINGS,
    client_config,
    redacted,
)
from ingest.kafka.consumer import ConsumerOptions, consumer_config
from ingest.management.commands import kafka_status

SCRAM_SSL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SSL_CA_LOCATION": "/etc/kafka/ca.pem",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "betreco",
    "KAFKA_SASL_PASSWORD": "s3cr3t-pw",
}


@pytest.fixture
def kafka_settings(settings):
    """Settings with no Kafka client variables at all; a test sets the ones it needs."""
    settings.KAFKA_BOOTSTRAP_SERVERS = "kafka-1:9093,kafka-2:9093"
    settings.KAFKA_CLIENT_PROPERTIES = {}
    for name in NAMED_SETTINGS:
        setattr(settings, name, "")

    def configure(**values):
        for name, value in values.items():
            setattr(settings, name, value)
        return settings

    return configure


def test_without_variables_a_client_gets_only_the_bootstrap_servers(kafka_settings):
    kafka_settings()
    assert client_config() == {"bootstrap.servers": "kafka-1:9093,kafka-2:9093"}
    assert client_config(bootstrap_servers="127.0.0.1:1")["bootstrap.servers"] == "127.0.0.1:1"


def test_named_settings_map_to_their_librdkafka_properties(kafka_settings):
    kafka_settings(
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_SSL_CA_LOCATION="/ca.pem",
        KAFKA_SSL_CERTIFICATE_LOCATION="/client.pem",
        KAFKA_SSL_KEY_LOCATION="/client.key",
        KAFKA_SSL_KEY_PASSWORD="key-pw",
    )
    assert client_config() == {
        "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/client.pem",
        "ssl.key.location": "/client.key",
        "ssl.key.password": "key-pw",
    }


def test_sasl_ssl_with_scram_sha_512_is_sent_exactly_so(kafka_settings):
    kafka_settings(**SCRAM_SSL)
    assert client_config() == {
        "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "betreco",
        "sasl.password": "s3cr3t-pw",
    }


def test_sasl_plain_is_sent_exactly_so(kafka_settings):
    kafka_settings(
        KAFKA_SECURITY_PROTOCOL="sasl_ssl",
        KAFKA_SASL_MECHANISM="plain",
        KAFKA_SASL_USERNAME="$ConnectionString",
        KAFKA_SASL_PASSWORD="Endpoint=sb://x/;SharedAccessKey=abc",
    )
    assert client_config() == {
        "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "$ConnectionString",
        "sasl.password": "Endpoint=sb://x/;SharedAccessKey=abc",
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_librdkafka_accepts_the_sasl_configuration(kafka_settings, mechanism):
    kafka_settings(**{**SCRAM_SSL, "KAFKA_SSL_CA_LOCATION": "", "KAFKA_SASL_MECHANISM": mechanism})
    config = client_config(bootstrap_servers=f"127.0.0.1:{free_port()}")
    Producer(config).flush(0)  # raises KafkaException for a property it does not know
    Consumer({**config, "group.id": "g"}).close()


def test_named_settings_win_over_pass_through_and_the_client_over_both(kafka_settings):
    kafka_settings(
        KAFKA_CLIENT_PROPERTIES={"security.protocol": "PLAINTEXT", "acks": "1", "linger.ms": "50"},
        KAFKA_SECURITY_PROTOCOL="SSL",
    )
    config = client_config({"acks": "all"})
    assert config["security.protocol"] == "SSL"
    assert config["acks"] == "all"  # the service's guarantee
    assert config["linger.ms"] == "50"  # tuning from the environment


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        ({**SCRAM_SSL, "KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME"),
        ({**SCRAM_SSL, "KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_MECHANISM": "PLAIN"}, "SASL_SSL"),
    ],
)
def test_a_misconfiguration_is_refused_naming_the_variable(kafka_settings, values, variable):
    kafka_settings(**values)
    with pytest.raises(ImproperlyConfigured, match=variable):
        client_config()


def test_redacted_masks_passwords_secrets_and_keys():
    config = {
        "bootstrap.servers": "k:9093",
        "sasl.username": "betreco",
        "sasl.password": "s3cr3t-pw",
        "ssl.key.password": "key-pw",
        "ssl.key.pem": "-----BEGIN PRIVATE KEY-----",
        "sasl.oauthbearer.client.secret": "oauth-secret",
        "ssl.endpoint.identification.algorithm": "none",
        "ssl.key.location": "",
    }
    assert redacted(config) == {
        "bootstrap.servers": "k:9093",
        "sasl.username": "betreco",
        "sasl.password": MASK,
        "ssl.key.password": MASK,
        "ssl.key.pem": MASK,
        "sasl.oauthbearer.client.secret": MASK,
        "ssl.endpoint.identification.algorithm": "none",
        "ssl.key.location": "",
    }


def test_the_consumer_logs_its_configuration_without_the_password(kafka_settings, caplog):
    kafka_settings(**SCRAM_SSL)
    with caplog.at_level(logging.DEBUG, logger="ingest.kafka.consumer"):
        config = consumer_config(ConsumerOptions(topics=["users"], group_id="g"))
    assert config["sasl.password"] == "s3cr3t-pw"
    assert "sasl.username" in caplog.text
    assert "s3cr3t-pw" not in caplog.text


class Recorder:
    """Stands in for a confluent-kafka client class; keeps the configuration it was given."""

    configs: list[dict]

    def __init__(self):
        self.configs = []

    def __call__(self, config):
        self.configs.append(config)
        return SimpleNamespace(
            close=bool,
            purge=lambda **_: None,
            flush=bool,
            list_topics=lambda **_: SimpleNamespace(topics={}),
        )


def _kafka_status(monkeypatch, recorder):
    monkeypatch.setattr(kafka_status, "Consumer", recorder)
    monkeypatch.setattr(kafka_status, "lag_by_topic", lambda *_: {})
    monkeypatch.setattr(kafka_status, "topic_partitions", lambda *_: [])
    kafka_status.topic_rows("g", "kafka-1:9093", 1.0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("module", "name", "make"),
    [
        (producer, "Producer", lambda: producer.get_producer()),
        (producer, "AdminClient", lambda: producer.broker_status()),
        (admin, "AdminClient", lambda: admin.admin_client()),
        (dead_letter, "Producer", lambda: dead_letter.dead_letter_producer()),
        (kafka_status, "Consumer", None),
    ],
    ids=["producer", "readiness-probe", "admin", "dead-letter-producer", "kafka_status"],
)
def test_every_client_gets_the_environments_security_settings(
    kafka_settings, monkeypatch, module, name, make
):
    kafka_settings(**SCRAM_SSL, KAFKA_CLIENT_PROPERTIES={"client.rack": "eu-1a"})
    recorder = Recorder()
    monkeypatch.setattr(module, name, recorder)
    monkeypatch.setattr(producer, "_broker_check", {"at": 0.0, "key": None, "result": ""})
    monkeypatch.setattr(producer, "_serve_reports", lambda _producer: None)
    producer.reset_producer()
    try:
        if make is None:
            _kafka_status(monkeypatch, recorder)
        else:
            make()
    finally:
        producer.reset_producer()
    [config] = recorder.configs
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "s3cr3t-pw"
    assert config["client.rack"] == "eu-1a"
    assert config["bootstrap.servers"].startswith("kafka-1:9093")
