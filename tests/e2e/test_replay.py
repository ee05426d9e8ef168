"""Dead-letter replay (docs/operations.md): back to the source topic, once each, real broker."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from ingest.kafka.replay import replay_headers
from ingest.kafka.topics import Header
from ingest.models import Coupon, DeadLetter
from tests.kafka_pipeline import header_map
from tests.records import coupon, event, user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def replay(*args: str) -> list[str]:
    out = StringIO()
    call_command("replay_dead_letters", *args, stdout=out)
    return out.getvalue().splitlines()


def test_a_coupon_dead_lettered_after_parking_is_replayed_once_its_user_arrived(pipeline):
    pipeline.produce("events", [event(10)])
    pipeline.produce("coupons", [coupon(100, 777, [10])])
    pipeline.consume("coupons", "events", idle=4, env={"PARKED_TIMEOUT_SECONDS": 1})
    letter = DeadLetter.objects.get()
    assert letter.published_at is not None
    assert not Coupon.objects.exists()

    pipeline.produce("users", [user(777)])
    pipeline.consume("users")
    assert replay("coupons", "--dry-run")[-1] == "Would replay 1 dead letter."
    assert replay("coupons", "--reason", "INVALID-JSON")[-1] == "Replayed 0 dead letters."
    assert replay("events")[-1] == "Replayed 0 dead letters."
    output = replay("coupons", "--reason", "LACKS USER 777")
    assert output[-1] == "Replayed 1 dead letter."
    assert output[0].startswith(f"replayed #{letter.pk} {pipeline.topic('coupons')}[")

    pipeline.consume("coupons")
    assert Coupon.objects.get(pk=100).selections.count() == 1
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert replay("coupons") == ["Replayed 0 dead letters."]
    # In the topic: the original coupon, then the replay with the original headers only.
    original, replayed = pipeline.messages(pipeline.topic("coupons"), expected=3, timeout=5)
    assert json.loads(replayed.value())["id"] == json.loads(original.value())["id"] == 100
    assert replayed.key() == b"100"
    assert header_map(replayed) == {
        Header.SCHEMA: "coupons",
        Header.SCHEMA_VERSION: "1",
        Header.REPLAYED: "1",
        Header.REPLAY_OF: str(letter.pk),
    }


def test_a_poison_message_replayed_and_dead_lettered_again_is_replayed_only_when_asked(
    pipeline, admin_client
):
    pipeline.produce("users", [b"{not json"])
    pipeline.consume("users")
    first = DeadLetter.objects.get()

    assert replay()[-1] == "Replayed 1 dead letter."
    pipeline.consume("users")

    again = DeadLetter.objects.exclude(pk=first.pk).get()
    assert again.value == "{not json"
    assert again.reason.startswith("invalid-json")
    assert again.replayed_at is None
    assert (again.replay_count, again.replay_of) == (1, first)
    assert dict(again.headers)[Header.REPLAYED] == "1"
    assert len(pipeline.dead_letters("users", expected=2)) == 2
    # The next run leaves it alone: no loop.
    assert replay("users") == ["Replayed 0 dead letters."]
    # Asked to, it lists it as a replay that failed before, and would replay it once more.
    output = replay("users", "--again", "--dry-run")
    assert output == [
        f"would replay #{again.pk} {again.topic}[{again.partition}]@{again.offset} key -: "
        f"{again.reason} (replayed 1 time before)",
        "Would replay 1 dead letter.",
    ]
    assert [h for h in replay_headers(again) if h[0] in (Header.REPLAYED, Header.REPLAY_OF)] == [
        (Header.REPLAYED.value, b"2"),
        (Header.REPLAY_OF.value, str(again.pk).encode()),
    ]
    # The admin shows the chain on both dead letters, each linking to the other.
    for letter, other in ((again, first), (first, again)):
        page = admin_client.get(reverse("admin:ingest_deadletter_change", args=[letter.pk]))
        html = page.content.decode()
        assert "replay chain" in html.lower()
        assert reverse("admin:ingest_deadletter_change", args=[other.pk]) in html
        assert f"<strong>#{letter.pk} " in html


def test_the_admin_replays_the_selected_dead_letters_and_failed_replays_when_asked(
    pipeline, admin_client
):
    topic = pipeline.topic("users")
    record = json.dumps(user(5))
    letters = [
        DeadLetter.objects.create(
            topic=topic,
            partition=0,
            offset=offset,
            key="5",
            value=record,
            reason="r",
            headers=[[Header.SCHEMA.value, "users"], [Header.ERROR.value, "why"]],
            published_at=timezone.now(),
            replayed_at=replayed_at,
            replay_count=replay_count,
        )  # fmt: skip
        for offset, replayed_at, replay_count in (
            (1, None, 0),
            (2, timezone.now(), 0),
            (3, None, 1),
        )
    ]
    changelist = reverse("admin:ingest_deadletter_changelist")
    selected = [letter.pk for letter in letters]

    response = admin_client.post(
        changelist, {"action": "replay_selected", "_selected_action": selected}, follow=True
    )
    assert "Replayed 1 dead letter. 2 skipped: already replayed or not yet published" in (
        response.content.decode()
    )
    [message] = pipeline.messages(topic, expected=1)
    assert message.value().decode() == record
    assert header_map(message) == {
        Header.SCHEMA: "users",
        Header.REPLAYED: "1",
        Header.REPLAY_OF: str(letters[0].pk),
    }
    response = admin_client.post(
        changelist, {"action": "replay_selected_again", "_selected_action": selected}, follow=True
    )
    assert "Replayed 1 dead letter. 2 skipped" in response.content.decode()
    assert header_map(pipeline.messages(topic, expected=2)[-1])[Header.REPLAYED] == "2"
    assert not DeadLetter.objects.filter(replayed_at__isnull=True).exists()
