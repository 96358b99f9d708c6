"""Database helpers shared by every app's services."""

from __future__ import annotations

import functools
import logging
import operator
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.db import OperationalError, connection, connections, models, router, transaction

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


def bulk_update_columns(
    model: type[models.Model], objs: Iterable[models.Model], fields: list[str], *, batch_size=5000
) -> int:
    """``Model.objects.bulk_update(objs, fields)``, fast on PostgreSQL: same rows, same columns.

    Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per object and
    field; building and compiling those in Python dominated large batches (the allocation
    benchmark spent most of its time there). On PostgreSQL this sends one
    ``UPDATE … FROM unnest(<one array per column>)`` per batch instead. Other databases use
    ``bulk_update``. Like it, this calls no ``save()``, sends no signals, leaves ``auto_now``
    fields alone and refuses unsaved related objects. Returns the number of rows updated.
    """
    objs = list(objs)
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields, batch_size=batch_size)
    from core.bulk import update_rows

    opts = model._meta
    targets = [opts.get_field(name) for name in fields]
    if any(not f.concrete or f.many_to_many or f.primary_key for f in targets):
        raise ValueError("bulk_update_columns() updates concrete, non-key fields only.")
    relations = [f for f in targets if f.is_relation]
    for obj in objs:
        if obj.pk is None:
            raise ValueError("All bulk_update_columns() objects must have a primary key set.")
        if relations:
            obj._prepare_related_fields_for_save(operation_name="bulk_update", fields=relations)
    getters = [operator.attrgetter(f.attname) for f in targets]
    rows = [(obj.pk, *(get(obj) for get in getters)) for obj in objs]
    return update_rows(model, [f.name for f in targets], rows, batch_size=batch_size)
