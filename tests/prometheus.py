"""Reading Prometheus text format in tests: one sample's value by name and labels."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def label_sets(text: str, name: str) -> list[dict]:
    return [sample.labels for sample in samples(text) if sample.name == name]


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()
