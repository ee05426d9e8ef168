"""Consumer processes on a real broker and the test database (docs/kafka.md, docs/consumers.md)."""

import json

import pytest
from django.core.management import call_command
from django.db import connection

from ingest.ids import FIRST_DERIVED_ID, MAX_ASSIGNED_ID
from ingest.kafka.topics import Header
from ingest.models import Coupon, DeadLetter, Event, ParkedCoupon, Selection, User
from tests.kafka_pipeline import header_map, wait_until
from tests.records import coupon, event, user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def snapshot() -> dict:
    """Every stored row of the ingested domain, to compare before and after."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (User, Event, Coupon, Selection, ParkedCoupon, DeadLetter)
    }


def test_a_batch_of_users_events_and_coupons_is_stored_by_one_process(pipeline):
    pipeline.produce("users", [user(1), user(2)])
    pipeline.produce("events", [event(10), event(11, sport="Tennis")])
    pipeline.produce("coupons", [coupon(100, 1, [10, 11]), coupon(101, 2, [11])])

    pipeline.consume("users", "events", "coupons")

    assert sorted(User.objects.values_list("id", flat=True)) == [1, 2]
    assert sorted(Event.objects.values_list("id", flat=True)) == [10, 11]
    assert sorted(Coupon.objects.get(pk=100).selections.values_list("event_id", flat=True)) == [
        10,
        11,
    ]
    assert Coupon.objects.get(pk=101).user_id == 2


def test_the_seed_wire_format_is_stored(pipeline):
    seed_user = {"user_id": 79859, "birth_year": 1970, "country": "AL", "currency": "EUR"}
    seed_user |= {"gender": "M", "registration_date": "2024-04-01 20:48:20.438063"}
    pipeline.produce("users", [seed_user], seed=True)
    seed_event = {"event_id": "55862", **event(0)}
    del seed_event["id"]
    pipeline.produce("events", [seed_event], seed=True)

    pipeline.consume("users", "events")

    stored = User.objects.get(pk=79859)
    assert (stored.country, stored.registration_date.year) == ("AL", 2024)
    assert Event.objects.filter(pk=55862).exists()


def test_a_poison_message_is_dead_lettered_with_why_and_where_and_later_ones_are_stored(pipeline):
    first, bad_json, bad_field, last = pipeline.produce(
        "users", [user(1), b"{not json", user(2, country="ZZ"), user(3)]
    )
    by_offset = {(d.partition, d.offset): d for d in (first, bad_json, bad_field, last)}

    pipeline.consume("users")

    assert sorted(User.objects.values_list("id", flat=True)) == [1, 3]
    letters = pipeline.dead_letters("users", expected=2)
    assert len(letters) == 2
    errors = {}
    for letter in letters:
        headers = header_map(letter)
        origin = (int(headers[Header.ORIGINAL_PARTITION]), int(headers[Header.ORIGINAL_OFFSET]))
        assert headers[Header.ORIGINAL_TOPIC] == pipeline.topic("users")
        assert headers[Header.SCHEMA] == "users"  # the original headers are kept
        assert letter.key() == by_offset[origin].key  # and so are key and value
        errors[headers[Header.ERROR_KIND]] = (headers[Header.ERROR], letter.value())
    assert errors["invalid-json"][1] == b"{not json"
    assert "not valid JSON" in errors["invalid-json"][0]
    assert errors["invalid-record"][0].startswith("country:")
    assert json.loads(errors["invalid-record"][1])["country"] == "ZZ"
    assert DeadLetter.objects.filter(topic=pipeline.topic("users")).count() == 2


def test_duplicates_and_a_replay_from_offset_0_change_nothing(pipeline):
    records = [user(1), user(2), user(1), user(2)]
    pipeline.produce("users", records)
    pipeline.produce("events", [event(10), event(10)])
    pipeline.produce("coupons", [coupon(100, 1, [10]), coupon(100, 1, [10]), b"[]"])
    pipeline.consume("users", "events", "coupons")
    before = snapshot()

    pipeline.consume("users", "events", "coupons", "--group", f"{pipeline.prefix}replay")

    assert snapshot() == before
    assert (User.objects.count(), Coupon.objects.count(), DeadLetter.objects.count()) == (2, 1, 1)


def test_records_without_an_id_get_ids_derived_from_their_messages_the_same_on_a_replay(pipeline):
    nameless = [{k: v for k, v in user(pk).items() if k != "id"} for pk in (1, 2, 3)]
    pipeline.produce("users", nameless)
    pipeline.consume("users")
    first = set(User.objects.values_list("id", flat=True))
    pipeline.consume("users", "--group", f"{pipeline.prefix}replay")

    assert set(User.objects.values_list("id", flat=True)) == first
    assert len(first) == 3
    assert all(FIRST_DERIVED_ID <= pk <= MAX_ASSIGNED_ID for pk in first)


def test_a_coupon_before_its_user_and_events_waits_and_is_stored_when_they_arrive(pipeline):
    coupons = pipeline.start_consumer("coupons", "--group", f"{pipeline.prefix}coupons")
    pipeline.produce("coupons", [coupon(100, 1, [10, 11])])
    wait_until(lambda: ParkedCoupon.objects.filter(pk=100).exists(), what="the coupon to park")
    assert not Coupon.objects.exists()

    pipeline.produce("users", [user(1)])
    pipeline.produce("events", [event(10), event(11)])
    pipeline.consume("users", "events", "--group", f"{pipeline.prefix}references")

    wait_until(lambda: Coupon.objects.filter(pk=100).exists(), what="the coupon to be stored")
    assert not ParkedCoupon.objects.exists()
    assert Coupon.objects.get(pk=100).selections.count() == 2
    coupons.signal(15)
    assert coupons.wait() == 0


def test_a_coupon_parked_past_the_timeout_is_dead_lettered_with_what_it_lacks(pipeline):
    [delivery] = pipeline.produce("coupons", [coupon(100, 777, [10])])
    pipeline.produce("events", [event(10)])

    pipeline.consume("coupons", "events", idle=4, env={"PARKED_TIMEOUT_SECONDS": 1})

    [letter] = pipeline.dead_letters("coupons", expected=1)
    headers = header_map(letter)
    assert headers[Header.ERROR_KIND] == "unresolved"
    assert "lacks user 777" in headers[Header.ERROR]
    assert headers[Header.ORIGINAL_TOPIC] == pipeline.topic("coupons")
    assert int(headers[Header.ORIGINAL_PARTITION]) == delivery.partition
    assert int(headers[Header.ORIGINAL_OFFSET]) == delivery.offset
    assert json.loads(letter.value())["id"] == 100
    assert not ParkedCoupon.objects.exists()
    assert not Coupon.objects.exists()
    assert DeadLetter.objects.get().reason.startswith("unresolved: coupon 100 still lacks user 777")


def test_kafka_status_reports_lag_then_progress_parked_and_dead_letters(pipeline, capsys):
    pipeline.produce("users", [user(1), user(2), b"oops"], one_per_batch=True)
    pipeline.produce("coupons", [coupon(100, 999, [10])], one_per_batch=True)

    call_command("kafka_status", "--json")
    before = {row["topic"]: row for row in json.loads(capsys.readouterr().out)["topics"]}
    pipeline.consume("users", "coupons")
    call_command("kafka_status", "--json")
    after = json.loads(capsys.readouterr().out)
    call_command("kafka_status")
    table = capsys.readouterr().out

    assert (before[pipeline.topic("users")]["lag"], before[pipeline.topic("coupons")]["lag"]) == (
        3,
        1,
    )
    rows = {row["topic"]: row for row in after["topics"]}
    assert rows[pipeline.topic("users")] == {
        "topic": pipeline.topic("users"),
        "end": 3,
        "committed": 3,
        "lag": 0,
        "dead_lettered": 1,
    }
    assert rows[pipeline.topic("coupons")]["lag"] == 0
    assert after["parked_coupons"] == 1
    assert "parked coupons: 1" in table
    assert pipeline.topic("users") in table


def test_a_record_the_database_refuses_is_dead_lettered_and_its_batch_still_stored(pipeline):
    if connection.vendor != "sqlite":
        pytest.skip("the refusal is simulated with an SQLite trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER refuse_666 BEFORE INSERT ON ingest_user WHEN NEW.id = 666 "
            "BEGIN SELECT RAISE(ABORT, 'user 666 refused by a constraint'); END"
        )
    try:
        pipeline.produce("users", [user(1), user(666), user(2)])

        consumer = pipeline.consume("users")

        assert sorted(User.objects.values_list("id", flat=True)) == [1, 2]
        [letter] = pipeline.dead_letters("users", expected=1)
        headers = header_map(letter)
        assert headers[Header.ERROR_KIND] == "refused-by-database"
        assert "user 666 refused" in headers[Header.ERROR]
        assert "storing its messages one by one" in consumer.log
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_666")


def test_max_messages_stops_after_that_many_and_the_group_resumes_after_them(pipeline):
    pipeline.produce("users", [user(pk) for pk in range(1, 11)])

    first = pipeline.start_consumer("users", "--max-messages", "4", "--batch-size", "3")
    assert first.wait() == 0, first.log
    rest = pipeline.consume("users")

    assert "consumed 4 messages" in first.log
    assert "consumed 6 messages" in rest.log
    assert User.objects.count() == 10
