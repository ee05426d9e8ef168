"""`GET /status` and `GET /status.json` (docs/operations.md)."""

import time

import pytest
from django.conf import settings
from django.contrib.auth.models import User as DjangoUser
from django.test import override_settings

from access.models import ApiKey
from ingest.kafka.reporting import bucket_of
from ingest.models import ConsumerStat, DeadLetter
from tests.production.test_settings import run_python

DB_PASSWORD = "planted-db-password-4711"
SASL_PASSWORD = "planted-sasl-password-0815"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("readiness_answers")]


@pytest.mark.parametrize("path", ["/status.json", "/status.json/"])
def test_status_json_answers_the_figures(client, path):
    ConsumerStat.objects.create(topic="users", bucket=bucket_of(time.time()), stored=30)

    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    body = response.json()
    assert set(body) >= {"health", "topics", "chart", "dead_letters", "parked_coupons"}
    assert body["topics"][0]["stored_15m"] == 30


@pytest.mark.parametrize("path", ["/status", "/status/"])
def test_the_status_page_is_html_with_its_figures_chart_and_pinned_scripts(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>betreco status</title>" in html
    assert 'id="chart"' in html
    assert 'id="status-figures"' in html  # the figures of now, for the first draw
    assert "/static/status/vendor/uplot-1.6.32/uPlot.iife.min.js" in html
    assert "/static/status/status.js" in html
    assert "http" not in html.split("<body>")[0].replace("http-equiv", "")  # no CDN


def test_neither_answer_shows_a_secret(client):
    for path in ("/status", "/status.json"):
        assert settings.SECRET_KEY not in client.get(path).content.decode()


# Only redact() reads the planted password: the test's connections keep their own settings.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_no_planted_password_shows_in_the_page_the_json_or_the_metrics(
    client, settings, readiness_answers
):
    """A database URL's password and a SASL setting, quoted by errors, are masked everywhere."""
    url = f"postgres://betreco:{DB_PASSWORD}@db:5432/betreco"
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "PASSWORD": DB_PASSWORD}}
    settings.KAFKA_CLIENT_PROPERTIES = {"sasl.password": SASL_PASSWORD}
    readiness_answers(
        database=f"unavailable: could not connect to {url}",
        broker=f"unavailable: SASL authentication with password {SASL_PASSWORD} failed",
    )
    DeadLetter.objects.create(
        topic="users", partition=0, offset=1, reason=f"refused-by-database: {url} refused"
    )

    answers = {path: client.get(path).content.decode() for path in ("/status", "/status.json")}
    answers["/metrics"] = client.get("/metrics").content.decode()

    for path, text in answers.items():
        assert DB_PASSWORD not in text, path
        assert SASL_PASSWORD not in text, path
    assert "postgres://betreco:*****@db:5432/betreco" in answers["/status.json"]


@pytest.mark.parametrize("path", ["/status", "/status.json"])
class TestOperatorsOnlyInProduction:
    @pytest.fixture(autouse=True)
    def production_mode(self):
        with override_settings(REQUIRE_CREDENTIALS=True, PUBLIC_READS=True):
            yield

    def test_anonymous_callers_are_refused_even_with_public_reads(self, client, path):
        response = client.get(path)
        assert response.status_code == 401
        assert "/admin/login/" in response.json()["detail"]

    def test_a_staff_login_sees_them(self, client, path):
        client.force_login(DjangoUser.objects.create_user("ops", is_staff=True))
        assert client.get(path).status_code == 200

    def test_a_login_without_staff_does_not(self, client, path):
        client.force_login(DjangoUser.objects.create_user("customer"))
        assert client.get(path).status_code == 403

    @pytest.mark.parametrize("scope", ["read", "write"])
    def test_a_key_of_either_scope_sees_them(self, client, path, scope):
        _, key = ApiKey.objects.create_key(name="monitor", scope=scope)
        assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


def test_the_status_page_only_reads(client):
    assert client.post("/status.json").status_code == 405


def test_the_page_and_its_scripts_are_served_with_production_settings(tmp_path):
    # As in the image: collectstatic (hashed, compressed names), then WhiteNoise serves them.
    code = f"""
import re, django
from django.conf import settings
django.setup()
settings.STATIC_ROOT = {str(tmp_path / "static")!r}
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)
from django.contrib.auth.models import User
from django.test import Client
client = Client()
client.force_login(User.objects.create_user("ops", is_staff=True))  # DEBUG=0: operators only
page = client.get("/status", secure=True)
assert page.status_code == 200, page.status_code
scripts = re.findall(r'src="([^"]+)"', page.content.decode())
assert any("uPlot.iife.min." in s for s in scripts), scripts
for url in scripts + re.findall(r'href="(/static/[^"]+)"', page.content.decode()):
    answer = client.get(url, secure=True)
    assert answer.status_code == 200, (url, answer.status_code)
    print("served", url)
assert client.get("/status.json", secure=True).status_code == 200
"""
    result = run_python(code, tmp_path, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")

    assert result.returncode == 0, result.stderr
    served = result.stdout
    assert "served /static/status/vendor/uplot-1.6.32/uPlot.iife.min." in served
    assert "served /static/status/status." in served
