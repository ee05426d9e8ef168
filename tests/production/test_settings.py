"""Production settings (DEBUG=0): secret key, secure defaults, credentials, throttling, JSON logs.

Settings are read once per process, so what depends on DEBUG=0 at import
runs in a subprocess with that environment; request-time rules (the
credentials) run in-process with override_settings. Every URL of both
roles: test_url_access.py.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth.models import User as DjangoUser
from django.test import override_settings
from rest_framework.authtoken.models import Token

from tests.production.compose import REPO

LONG_SECRET = "production-test-secret-" + "k3Yq9" * 10
API_KEY = "test-api-key-0123456789"
USER = {"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "M"}


def run_python(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with production settings and `env` on top."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "betreco.settings",
        "DEBUG": "0",
        "SECRET_KEY": LONG_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    }
    environment = {key: value for key, value in environment.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_settings(tmp_path, *names: str, **env) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))"
    )
    result = run_python(code, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_python("import django; django.setup()", tmp_path, SECRET_KEY=None)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_reports_nothing_with_the_production_defaults(tmp_path):
    result = run_python(
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_the_ssl_redirect_is_turned_off(tmp_path):
    # What the compose file does (no TLS proxy there): documented, and flagged.
    result = run_python(
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy'])",
        tmp_path,
        SECURE_SSL_REDIRECT="0",
    )
    assert result.returncode == 0
    assert "security.W008" in result.stderr


def test_production_defaults_are_secure_and_each_is_configurable(tmp_path):
    names = [
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "REQUIRE_CREDENTIALS",
        "PUBLIC_READS",
    ]
    defaults = production_settings(tmp_path, *names)
    assert defaults == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": None,
        "REQUIRE_CREDENTIALS": True,
        "PUBLIC_READS": False,
    }
    behind_proxy = production_settings(
        tmp_path,
        *names,
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_PRELOAD="0",
        TRUST_X_FORWARDED_PROTO="1",
        PUBLIC_READS="1",
    )
    assert behind_proxy["SECURE_SSL_REDIRECT"] is False
    assert behind_proxy["SECURE_HSTS_SECONDS"] == 3600
    assert behind_proxy["SECURE_HSTS_PRELOAD"] is False
    assert behind_proxy["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert behind_proxy["PUBLIC_READS"] is True


def test_the_former_require_write_token_still_turns_credentials_off(tmp_path):
    values = production_settings(tmp_path, "REQUIRE_CREDENTIALS", REQUIRE_WRITE_TOKEN="0")
    assert values == {"REQUIRE_CREDENTIALS": False}


def test_local_settings_need_no_token_and_do_not_throttle(tmp_path):
    local = production_settings(tmp_path, "REQUIRE_CREDENTIALS", "REST_FRAMEWORK", DEBUG="1")
    assert local["REQUIRE_CREDENTIALS"] is False
    assert "DEFAULT_THROTTLE_CLASSES" not in local["REST_FRAMEWORK"]


def test_production_throttles_anonymous_public_reads_but_not_token_holders(tmp_path):
    code = """
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
client = Client()
# A forged X-Forwarded-For does not make a new client (THROTTLE_NUM_PROXIES=0).
anonymous = [
    client.get("/users/1", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(4)
]
keyed = [client.get("/users/1", HTTP_AUTHORIZATION="Bearer KEY").status_code for _ in range(4)]
print(anonymous, keyed)
""".replace("KEY", API_KEY)
    result = run_python(
        code,
        tmp_path,
        THROTTLE_ANON_RATE="3/minute",
        API_KEYS=API_KEY,
        SECURE_SSL_REDIRECT="0",
        PUBLIC_READS="1",
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[404, 404, 404, 429] [404, 404, 404, 404]"


def test_throttle_counts_live_in_a_shared_folder_or_in_redis_never_in_the_database(tmp_path):
    default = production_settings(tmp_path, "CACHES")["CACHES"]["default"]
    redis = production_settings(tmp_path, "CACHES", CACHE_URL="redis://127.0.0.1:6379/1")

    assert default["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert re.search(r"/betreco-cache-[0-9a-f]{12}$", default["LOCATION"])
    other = production_settings(tmp_path, "CACHES", DATABASE_URL="sqlite:////elsewhere/db")
    assert other["CACHES"]["default"]["LOCATION"] != default["LOCATION"]  # one per database
    assert redis["CACHES"]["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
    }


def test_an_anonymous_public_read_writes_nothing_to_the_database(tmp_path):
    """With the default cache: the throttle's count of the request goes elsewhere."""
    code = """
import django, json
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
call_command("migrate", verbosity=0)
client = Client()
client.get("/users/1")  # the first request of a process reads the URLconf and the like
with CaptureQueriesContext(connection) as queries:
    statuses = [client.get(path).status_code for path in ("/users/1", "/recommendation/1")]
print(json.dumps([statuses, [query["sql"].split()[0] for query in queries]]))
"""
    result = run_python(code, tmp_path, SECURE_SSL_REDIRECT="0", PUBLIC_READS="1")
    assert result.returncode == 0, result.stderr
    statuses, verbs = json.loads(result.stdout.splitlines()[-1])
    assert statuses == [404, 404]
    assert set(verbs) == {"SELECT"}


def test_log_format_json_writes_one_json_object_per_line(tmp_path):
    result = run_python(
        "import django, logging; django.setup(); "
        "logging.getLogger('ingest.kafka.consumer').warning('stored %d records', 7)",
        tmp_path,
        LOG_FORMAT="json",
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "stored 7 records"
    assert line["level"] == "WARNING"
    assert line["logger"] == "ingest.kafka.consumer"
    assert "time" in line


@pytest.mark.django_db
class TestCredentialsInProduction:
    """REQUIRE_CREDENTIALS is on by default when DEBUG is off."""

    pytestmark = pytest.mark.usefixtures("production_mode")

    @pytest.fixture
    def production_mode(self):
        with override_settings(REQUIRE_CREDENTIALS=True, PUBLIC_READS=False, API_KEYS=[API_KEY]):
            yield

    def test_a_write_without_a_token_is_refused_with_401(self, api_client):
        response = api_client.post("/users", USER, format="json")
        assert response.status_code == 401
        assert "Bearer" in response["WWW-Authenticate"]
        assert "API_KEYS" in response.json()["detail"]

    def test_producer_endpoints_need_a_token_too(self, api_client):
        response = api_client.post("/produce/users", USER, format="json")
        assert response.status_code == 401

    @pytest.mark.parametrize("scheme", ["Bearer", "Token"])
    def test_an_api_key_as_bearer_or_token_may_write(self, api_client, scheme):
        api_client.credentials(HTTP_AUTHORIZATION=f"{scheme} {API_KEY}")
        response = api_client.post("/users", USER, format="json")
        assert response.status_code == 201
        assert api_client.get(f"/users/{response.json()['id']}").status_code == 200

    def test_a_users_drf_token_may_write(self, api_client):
        token = Token.objects.create(user=DjangoUser.objects.create_user("platform"))
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert api_client.post("/users", USER, format="json").status_code == 201

    @pytest.mark.parametrize("header", ["Bearer wrong-key", "Token wrong-key"])
    def test_an_unknown_key_is_refused(self, api_client, header):
        api_client.credentials(HTTP_AUTHORIZATION=header)
        assert api_client.post("/users", USER, format="json").status_code == 401

    @pytest.mark.parametrize(
        "path", ["/users", "/users/1", "/events", "/coupons", "/recommendation/1"]
    )
    def test_reads_need_a_credential(self, api_client, path):
        response = api_client.get(path)
        assert response.status_code == 401
        assert "create_api_key" in response.json()["detail"]

    def test_a_staff_login_reads_and_writes_in_the_browsable_api(self, client):
        client.force_login(DjangoUser.objects.create_user("ops", is_staff=True))
        assert client.get("/users", HTTP_ACCEPT="text/html").status_code == 200
        assert client.post("/users", USER, content_type="application/json").status_code == 201

    def test_a_login_without_staff_is_no_credential(self, client):
        client.force_login(DjangoUser.objects.create_user("customer"))
        response = client.get("/users")
        assert response.status_code == 403
        assert "staff login" in response.json()["detail"]

    def test_the_probes_stay_open(self, api_client):
        assert api_client.get("/healthz").status_code == 200

    def test_public_reads_open_reads_and_not_writes(self, api_client):
        with override_settings(PUBLIC_READS=True):
            assert api_client.get("/users").status_code == 200
            assert api_client.post("/users", USER, format="json").status_code == 401


@pytest.mark.django_db
def test_local_mode_needs_no_credentials(api_client):
    with override_settings(REQUIRE_CREDENTIALS=False, API_KEYS=[]):
        assert api_client.get("/users").status_code == 200
        assert api_client.post("/users", USER, format="json").status_code == 201


def test_kafka_client_variables_are_read_into_settings(tmp_path):
    values = production_settings(
        tmp_path,
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_TOPIC_REPLICATION_FACTOR",
        "KAFKA_CLIENT_PROPERTIES",
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        KAFKA_SASL_PASSWORD="pw",
        KAFKA_TOPIC_REPLICATION_FACTOR="3",
        KAFKA_CLIENT_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM="none",
        KAFKA_CLIENT_CONFIG='{"sasl.oauthbearer.client.id": "svc"}',
    )
    assert values == {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_PASSWORD": "pw",
        "KAFKA_TOPIC_REPLICATION_FACTOR": 3,
        "KAFKA_CLIENT_PROPERTIES": {
            "sasl.oauthbearer.client.id": "svc",
            "ssl.endpoint.identification.algorithm": "none",
        },
    }


@pytest.mark.parametrize("role", ["api", "producer"])
def test_no_role_runs_a_middleware_of_the_apps(tmp_path, role):
    """The link to recommendations is in the code that writes (ingest.hooks), not in settings."""
    middleware = production_settings(tmp_path, "MIDDLEWARE", BETRECO_ROLE=role)["MIDDLEWARE"]
    apps = {"ingest", "recommendations", "status"}
    assert [name for name in middleware if name.split(".")[0] in apps] == []
