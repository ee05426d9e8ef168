"""Crash points for fault tests: `BETRECO_CRASH_AT=name[,name]` kills the process there.

The fault tests kill a process at each step boundary that matters for
durability (after the batch's commit, inside the refresh, ...) and check
that the next process finishes the job. SIGKILL, as a machine failure
would: no `finally`, no atexit, no after-commit callback runs. Unset (the
default), a crash point does nothing.
"""

import logging
import os
import signal

logger = logging.getLogger(__name__)

ENV = "BETRECO_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once, when `BETRECO_CRASH_AT` names this point."""
    wanted = os.environ.get(ENV)
    if wanted and name in wanted.split(","):
        logger.warning("crash point %r: killing this process (%s)", name, ENV)
        os.kill(os.getpid(), signal.SIGKILL)
