"""`GET /status` and `GET /status.json` (docs/operations.md)."""

import time

import pytest
from django.conf import settings

from ingest.kafka.reporting import bucket_of
from ingest.models import ConsumerStat
from tests.production.test_settings import run_python

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
from django.test import Client
client = Client()
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
