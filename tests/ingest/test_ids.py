"""Assigned ids (docs/records.md): leased in blocks from a counter, unique, ≤ 2**53 − 1.

The pool's shared path (a block for every thread of the process) only runs
outside a transaction, so these tests use `transactional_db`; the counter's
table is unmanaged, so the flush after each test leaves it rising.
"""

import os
import threading

import pytest
from django.db import connection, connections, transaction

from betreco.embedded_broker import free_port
from ingest import ids
from ingest.ids import (
    FIRST_DERIVED_ID,
    FIRST_LEASED_ID,
    MAX_ASSIGNED_ID,
    MAX_BLOCK,
    MIN_BLOCK,
    IdPool,
    IdsExhausted,
    IdUnavailable,
    derived_id,
    lease_block,
)
from ingest.models import IdCounter


class Clock:
    """A clock the test moves by hand, for the pool's block sizes."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def counter() -> int:
    return IdCounter.objects.get(pk=1).next_id


def use_up_block(pool: IdPool) -> None:
    """Take every id left in the pool's block and one more, which leases the next block."""
    for _ in range(pool._remaining() + 1):
        pool.new_id()


# Layout


@pytest.mark.django_db(transaction=True)
def test_leased_ids_are_above_source_ids_and_below_derived_ones():
    pool = IdPool()
    assigned = [pool.new_id() for _ in range(5000)]

    assert all(FIRST_LEASED_ID <= value < FIRST_DERIVED_ID for value in assigned)
    assert len(set(assigned)) == len(assigned)


def test_derived_ids_fit_javascript_stay_apart_from_leased_ones_and_never_collide():
    numbers = [0, 1, 2, 4095, 2**20 - 1]
    offsets = [0, 1, 41, 2**31, 2**32 - 1]
    derived = [derived_id(number, offset) for number in numbers for offset in offsets]

    assert all(FIRST_DERIVED_ID <= value <= MAX_ASSIGNED_ID for value in derived)
    assert len(set(derived)) == len(numbers) * len(offsets)
    assert derived_id(2**20 - 1, 2**32 - 1) == MAX_ASSIGNED_ID == 2**53 - 1


def test_a_derived_id_keeps_the_low_32_bits_of_the_offset_its_range_holds_the_rest():
    # Offsets 0 and 2**32 are in different ranges (chunks 0 and 1), so different numbers.
    assert derived_id(7, 2**32 + 5) == derived_id(7, 5) == FIRST_DERIVED_ID + (7 << 32) + 5


def test_a_range_number_beyond_20_bits_is_refused_rather_than_leaving_javascript_range():
    with pytest.raises(ValueError, match="outside"):
        derived_id(2**20, 0)
    with pytest.raises(ValueError, match="outside"):
        derived_id(-1, 0)


# Blocks


@pytest.mark.django_db(transaction=True)
def test_blocks_are_consecutive_and_never_overlap():
    blocks = [lease_block(size) for size in (1, 64, 1000, 7, 65_536)]

    for before, after in zip(blocks, blocks[1:], strict=False):
        assert after.start == before.stop
    assert counter() == blocks[-1].stop
    assert sum(len(block) for block in blocks) == len(set().union(*blocks))


@pytest.mark.django_db
def test_the_last_block_stops_at_2_52_and_then_leasing_refuses():
    IdCounter.objects.filter(pk=1).update(next_id=FIRST_DERIVED_ID - 10)

    assert lease_block(64) == range(FIRST_DERIVED_ID - 10, FIRST_DERIVED_ID)
    with pytest.raises(IdsExhausted):
        lease_block(64)


@pytest.mark.django_db(transaction=True)
def test_block_doubles_while_each_lasts_under_a_second_up_to_the_cap():
    pool = IdPool(clock=Clock())  # time stands still: every block is used up at once
    pool.new_id()
    sizes = [pool.block_size]
    pool.block_size = MAX_BLOCK // 8  # skip ahead: fewer ids to use up
    for _ in range(4):
        use_up_block(pool)
        sizes.append(pool.block_size)

    assert sizes == [MIN_BLOCK, MAX_BLOCK // 4, MAX_BLOCK // 2, MAX_BLOCK, MAX_BLOCK]


@pytest.mark.django_db(transaction=True)
def test_block_starts_small_and_halves_when_it_lasted_over_a_minute():
    clock = Clock()
    pool = IdPool(clock=clock)
    first = pool.new_id()
    assert counter() - first == MIN_BLOCK

    pool.block_size = 1024
    clock.now += 30  # between one second and a minute: the size holds
    use_up_block(pool)
    assert pool.block_size == 1024

    clock.now += 120
    use_up_block(pool)
    assert pool.block_size == 512


# Inside a transaction


@pytest.mark.django_db(transaction=True)
def test_an_id_assigned_in_a_transaction_that_rolls_back_does_not_leak_a_block():
    pool = IdPool()
    before = counter()

    with transaction.atomic():
        inside = [pool.new_id() for _ in range(3)]
        shared_left = pool._remaining()
        transaction.set_rollback(True)

    assert shared_left == 0  # nothing was put in the shared pool
    assert inside == [before, before + 1, before + 2]  # one private lease per call
    assert counter() == before  # rolled back: never stored, so they may come again
    outside = pool.new_id()
    assert outside == before
    assert counter() == before + MIN_BLOCK  # the shared block was leased and committed


@pytest.mark.django_db(transaction=True)
def test_a_transaction_takes_ids_from_a_block_already_leased():
    pool = IdPool()
    first = pool.new_id()
    leased_to = counter()

    with transaction.atomic():
        inside = [pool.new_id() for _ in range(10)]

    assert inside == list(range(first + 1, first + 11))
    assert counter() == leased_to


# Threads and processes


@pytest.mark.django_db(transaction=True)
def test_threads_sharing_a_pool_never_get_the_same_id():
    pool = IdPool()
    threads, per_thread = 16, 3000
    results: list[list[int]] = [[] for _ in range(threads)]
    errors = []

    def assign(index):
        try:
            results[index] = [pool.new_id() for _ in range(per_thread)]
        except Exception as error:  # reported below, with the thread's failure
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=assign, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assigned = [value for result in results for value in result]
    assert len(assigned) == threads * per_thread == len(set(assigned))
    assert all(FIRST_LEASED_ID <= value < FIRST_DERIVED_ID for value in assigned)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.django_db(transaction=True)
def test_a_forked_child_does_not_hand_out_its_parents_block():
    parent = ids.new_id()  # the process-wide pool now holds a block
    if ids._pool._remaining() == 0:
        parent = ids.new_id()
    leased_to = counter()
    connection.close()  # a child must not share the parent's connection
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, like a gunicorn worker forked from a preloaded app
        code = 1
        try:
            os.write(write, str(ids.new_id()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = int(pipe.read() or 0)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child >= leased_to  # from a block of its own
    assert ids.new_id() == parent + 1  # the parent goes on with its block


# Outage


@pytest.fixture
def counter_unreachable(transactional_db, monkeypatch, tmp_path):
    """The database cannot be reached: a real connection to a place with no database."""
    monkeypatch.setattr(ids, "_pool", IdPool())  # nothing leased before the outage
    connection.close()
    saved = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-folder" / "db.sqlite3")
    else:
        connection.settings_dict["PORT"] = str(free_port())
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


def test_an_unreachable_counter_raises_a_database_error_naming_it(counter_unreachable):
    with pytest.raises(IdUnavailable, match="No id could be assigned"):
        ids.new_id()


USER = {"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "M"}


@pytest.mark.parametrize("path", ["/users", "/produce/users"])
def test_post_without_id_while_the_database_is_down_is_a_503_naming_the_cause(
    api_client, counter_unreachable, path
):
    response = api_client.post(path, USER, format="json")

    assert response.status_code == 503
    assert response.json()["detail"].startswith("No id could be assigned")
    assert response["Retry-After"]
