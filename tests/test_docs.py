"""/docs (Swagger UI) and /redoc work offline: every script and style is served by the service.

docs/http-api.md: the pages reference only same-origin URLs, at versions pinned by
drf-spectacular-sidecar, and those files are served: straight from the apps
with DEBUG (WhiteNoise's finders, as under `make run`), and from the
collected, hashed files with production settings (as in the image).
"""

import json
import re

import pytest

from tests.production.test_settings import run_python

DOCS = ("/docs", "/redoc")
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
EXTERNAL = re.compile(r"""(?:https?:)?//[\w.-]+""")


def references(html: str) -> list[str]:
    return REFERENCE.findall(html)


@pytest.mark.parametrize("path", DOCS)
def test_the_docs_page_references_only_its_own_origin(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert references(html), "the page loads its scripts from somewhere"
    for url in references(html):
        assert re.match(r"/[^/]", url), url
    # Nor anything a script would fetch (fonts, the public validator).
    assert not EXTERNAL.findall(re.sub(r"<!--.*?-->", "", html)), EXTERNAL.findall(html)


@pytest.mark.parametrize("path", DOCS)
def test_the_docs_pages_scripts_and_styles_are_served(client, path):
    for url in references(client.get(path).content.decode()):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content if response.streaming else [response.content])


def test_with_production_settings_the_collected_files_are_served(tmp_path):
    code = f"""
import json, re, django
from django.conf import settings
django.setup()
settings.STATIC_ROOT = {str(tmp_path / "static")!r}
from django.core.management import call_command
call_command("migrate", verbosity=0)  # as production does first (throttles use a table)
call_command("collectstatic", interactive=False, verbosity=0)
from django.test import Client
client, answers = Client(), {{}}
for page in {list(DOCS)!r}:
    html = client.get(page, secure=True).content.decode()
    for url in re.findall({REFERENCE.pattern!r}, html):
        answers[url] = client.get(url, secure=True).status_code
print(json.dumps(answers))
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    scripts = [url for url in answers if url.endswith(".js")]
    assert len(scripts) == 3, answers  # Swagger UI's bundle and preset, ReDoc's bundle
    # Hashed names from the manifest, so browsers may cache them for good.
    assert all(re.search(r"\.[0-9a-f]{12}\.js$", url) for url in scripts), scripts
    assert answers == dict.fromkeys(answers, 200)
