"""Records stored through a TLS-only broker: the service's clients speak TLS when configured to.

The embedded broker (Tansu) listens in plain text on a port no client is
told about; socat terminates TLS in front of it, with a throw-away
self-signed certificate for 127.0.0.1, and the broker advertises socat's
port. So every connection a client makes, bootstrap or not, goes through TLS.
"""

import shutil
import socket
import subprocess
import time
import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from betreco.embedded_broker import EmbeddedBroker, free_port
from ingest.kafka.admin import ensure_topics
from ingest.kafka.producer import publish_records, reset_producer
from ingest.models import User
from tests.kafka_pipeline import Pipeline
from tests.records import user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def socat_binary() -> str:
    """socat's path, installed from Debian when missing; the test is skipped if that fails."""
    if not shutil.which("socat"):
        install = "apt-get update -qq && apt-get install -y -qq socat"
        result = subprocess.run(["sh", "-c", install], capture_output=True, text=True)
        if result.returncode != 0 or not shutil.which("socat"):
            pytest.skip(f"socat is needed as the TLS terminator and `{install}` failed")
    return shutil.which("socat")


def self_signed_certificate(directory) -> tuple[str, str]:
    """A throw-away certificate and key for 127.0.0.1 and localhost (openssl CLI)."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make a throw-away certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def tls_broker(tmp_path):
    """(bootstrap servers, CA file) of a broker reachable only through TLS."""
    cert, key = self_signed_certificate(tmp_path)
    tls_port = free_port()
    with EmbeddedBroker(advertised_port=tls_port) as broker:
        terminator = subprocess.Popen(
            [
                socat_binary(),
                f"openssl-listen:{tls_port},fork,reuseaddr,cert={cert},key={key},verify=0",
                f"tcp:127.0.0.1:{broker.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(tls_port)
            yield f"127.0.0.1:{tls_port}", cert
        finally:
            terminator.terminate()
            terminator.wait(10)


def can_list_topics(config: dict) -> bool:
    try:
        AdminClient({**config, "log_level": 0}).list_topics(timeout=3)
        return True
    except KafkaException:
        return False


def test_records_are_produced_and_consumed_through_tls_only(tls_broker, settings, tmp_path):
    bootstrap, ca = tls_broker
    tls = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": ca}
    prefix = f"tls{uuid.uuid4().hex[:8]}."
    settings.KAFKA_BOOTSTRAP_SERVERS = bootstrap
    settings.KAFKA_TOPIC_PREFIX = prefix
    settings.KAFKA_CONSUMER_GROUP = f"{prefix}group"
    settings.KAFKA_CLIENT_PROPERTIES = {}
    for name, value in tls.items():
        setattr(settings, name, value)

    # TLS is really what the clients speak: plain text, or TLS without our CA, gets nowhere.
    tls_client = {"bootstrap.servers": bootstrap, "security.protocol": "SSL"}
    assert can_list_topics({**tls_client, "ssl.ca.location": ca})
    assert not can_list_topics(tls_client)  # the certificate is not one it trusts
    assert not can_list_topics({"bootstrap.servers": bootstrap})  # plain text

    assert ensure_topics(kinds=["users"])  # the admin client, through TLS
    reset_producer()
    try:
        receipts = publish_records("users", [user(7001), user(7002, country="IT")])
    finally:
        reset_producer()
    assert [r.id for r in receipts] == [7001, 7002]

    line = Pipeline(bootstrap=bootstrap, prefix=prefix, log_dir=tmp_path)
    try:
        consumer = line.consume("users", env=tls)
    finally:
        line.stop_all()

    assert dict(User.objects.values_list("id", "country")) == {7001: "GR", 7002: "IT"}
    assert "consuming" in consumer.log
