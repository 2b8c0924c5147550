"""SIGINT and SIGTERM: from the first one on no write is sent; the command unwinds (releasing its
leases), reports what it did and exits 128 + the signal's number (130, 143), as shells do.

The handler raises `Interrupted` in the main thread, wherever it waits; worker threads meet it at their
next write (cluster.py asks `check()` before each one). A second signal leaves at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

from kubectl_gitops.errors import Halt

_received: list[int] = []


class Interrupted(Halt):
    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}; no further write was sent",
                         exit_code=128 + signum)


def install() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handler)


def check() -> None:
    """Raise `Interrupted` once a signal arrived (called before every write)."""
    if _received:
        raise Interrupted(_received[0])


def _handler(signum: int, frame: FrameType | None) -> None:
    if _received:  # asked twice: leave now, without releasing anything
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(128 + signum)
    _received.append(signum)
    raise Interrupted(signum)
