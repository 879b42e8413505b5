"""Waiting in tests for something another process or thread does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(condition: Callable[[], T], seconds: float = 10.0, *, interval: float = 0.01) -> T:
    """Ask ``condition()`` until it gives a true value or ``seconds`` pass; return its last answer."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)
    return value
