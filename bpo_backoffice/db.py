"""Database helpers shared by every app's services."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection, transaction

log = logging.getLogger(__name__)

T = TypeVar("T")

# PostgreSQL: serialization_failure, deadlock_detected. SQLite: a busy writer past the timeout.
_RETRYABLE_PGCODES = {"40001", "40P01"}


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    pgcode = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if pgcode in _RETRYABLE_PGCODES:
        return True
    return "database is locked" in str(exc).lower()


def atomic_with_retry(func: Callable[..., T] | None = None, *, attempts: int = 6):
    """Run ``func`` in its own transaction, re-running it on a deadlock or serialization error.

    A transaction that lost a lock race is rolled back whole by the database, so running it
    again from the start is safe. Inside an outer transaction we cannot retry (the outer one is
    already aborted), so the function simply joins it and the error goes up to the outermost
    retrying caller.
    """

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs) -> T:
            if connection.in_atomic_block:
                with transaction.atomic():
                    return fn(*args, **kwargs)
            for attempt in range(1, attempts + 1):
                try:
                    with transaction.atomic():
                        return fn(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == attempts or not is_retryable(exc):
                        raise
                    log.info("retrying %s after %s (attempt %s)", fn.__qualname__, exc, attempt)
                    # Back off a little, with jitter, so the competing transactions interleave.
                    time.sleep(random.uniform(0.005, 0.05) * attempt)
            raise AssertionError("unreachable")

        return wrapper

    return decorate(func) if func is not None else decorate
