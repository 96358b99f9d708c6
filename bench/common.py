"""Helpers shared by the benchmarks: the database they run in, timing, query counting, output."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bpo_bench"


# -- the benchmark database ---------------------------------------------------------------------
def _pg_params(url: str) -> dict:
    import dj_database_url

    cfg = dj_database_url.parse(url)
    if cfg["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"BENCH_DATABASE_URL must point at PostgreSQL, not {cfg['ENGINE']}.")
    return {
        "dbname": cfg["NAME"],
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
    }


def _check_disposable(name: str) -> None:
    # The benchmarks wipe their tables; never do that to a database that looks like a real one.
    if "bench" not in name:
        raise SystemExit(
            f"Refusing to use database {name!r}: benchmarks wipe their data, so the database "
            "name must contain 'bench' (e.g. bpo_bench)."
        )


def ensure_database(url: str, *, fresh: bool) -> str:
    """Create the benchmark database if it is missing (drop it first with ``fresh``)."""
    import psycopg
    from psycopg import sql

    params = _pg_params(url)
    name = params.pop("dbname")
    _check_disposable(name)
    conn = psycopg.connect(dbname="postgres", autocommit=True, **params)
    try:
        if fresh:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return "created"
        return "exists"
    finally:
        conn.close()


def migrate() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    return time.perf_counter() - started


def wipe_business_data() -> None:
    """Empty every client-owned table (and warehouses): TRUNCATE … CASCADE from the roots."""
    from django.db import connection

    from clients.models import Client
    from inventory.models import Warehouse

    _check_disposable(connection.settings_dict["NAME"])
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Client, Warehouse))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def analyze() -> None:
    """Refresh planner statistics after a bulk load (autovacuum would, some time later)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def database_label() -> str:
    from django.db import connection

    s = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return f"PostgreSQL {version} {s.get('HOST') or 'local'}:{s.get('PORT') or 5432}/{s['NAME']}"


# -- measuring ----------------------------------------------------------------------------------
@dataclass
class Measure:
    seconds: float = 0.0  # wall clock
    queries: int = 0  # SQL statements sent
    cpu: float = 0.0  # CPU time of this Python process
    db_cpu: float | None = None  # CPU time of our PostgreSQL backend, when it runs on this machine

    def cpu_note(self) -> str:
        """CPU seconds spent: other load on the machine disturbs it much less than wall time."""
        if self.db_cpu is None:
            return f"CPU: Python {self.cpu:.2f} s"
        return f"CPU: Python {self.cpu:.2f} s + PostgreSQL backend {self.db_cpu:.2f} s"


def _backend_cpu() -> float | None:
    """utime + stime of our PostgreSQL backend from /proc (None when it is not local)."""
    import os

    from django.db import connection

    if connection.settings_dict.get("HOST") not in ("", None, "localhost", "127.0.0.1", "::1"):
        return None
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def measure() -> Iterator[Measure]:
    """Wall-clock time, CPU time and number of SQL statements of the ``with`` block."""
    from django.db import connection

    result = Measure()

    def count(execute, sql, params, many, context):
        result.queries += 1
        return execute(sql, params, many, context)

    db_before = _backend_cpu()
    with connection.execute_wrapper(count):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield result
        finally:
            result.seconds = time.perf_counter() - started
            result.cpu = time.process_time() - cpu
            db_after = _backend_cpu()
            if db_before is not None and db_after is not None:
                result.db_cpu = db_after - db_before


# -- output -------------------------------------------------------------------------------------
def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def row(label: str, value, unit: str = "") -> None:
    if isinstance(value, float):
        value = f"{value:,.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    print(f"  {label:<38} {value}{' ' + unit if unit else ''}", flush=True)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")
