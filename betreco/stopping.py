"""Asking long work to stop early: a consumer told to stop passes it on to its drains.

A drain can run for minutes (a full recommendation rebuild a consumer took
over), and a consumer given SIGTERM must still exit within its grace
period. The consumer runs its drains inside `stoppable(should_stop)`;
long work asks `stop_requested()` between steps that each leave the
database consistent (a rebuild between its chunks) and returns early,
leaving the rest owed in the database for the next process. Outside
`stoppable` nothing ever asks to stop (the API's threads, the command).
"""

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _never() -> bool:
    return False


# A context variable, not a global: each thread (a consumer's drain worker, a server's
# rebuild thread) sees only what its own caller asked.
_should_stop: contextvars.ContextVar[Callable[[], bool]] = contextvars.ContextVar(
    "betreco_should_stop", default=_never
)


@contextmanager
def stoppable(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Within this block, `stop_requested()` answers what `should_stop()` does."""
    token = _should_stop.set(should_stop)
    try:
        yield
    finally:
        _should_stop.reset(token)


def stop_requested() -> bool:
    """Whether whoever runs this work wants it to stop at the next safe point."""
    return _should_stop.get()()
