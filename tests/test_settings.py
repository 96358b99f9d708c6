"""The environment-driven settings module, exercised the way production starts it.

Each case runs ``manage.py`` (or a one-liner) in a fresh interpreter with exactly the
environment under test, because settings are read once at import and the test process itself
runs with ``DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Everything settings.py reads: the parent's values must not leak into a case.
SETTINGS_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "SQLITE_PATH",
    "DB_CONN_MAX_AGE",
    "REDIS_URL",
    "Q_CLUSTER_NAME",
    "Q_WORKERS",
    "Q_TIMEOUT",
    "Q_RETRY",
    "Q_SYNC",
    "EMAIL_BACKEND",
    "TIME_ZONE",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "BEHIND_TLS_PROXY",
    "LOGIN_LOCKOUT_ENABLED",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_COOLOFF_MINUTES",
    "TRUSTED_PROXY_COUNT",
    "SESSION_IDLE_MINUTES",
    "DJANGO_SETTINGS_MODULE",
    # Set by the browser tests' conftest for this process; production must never have it
    # (check --deploy reports async.E001).
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def _env(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "bpo_backoffice.settings"
    env["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")  # never the developer's database
    env["STATIC_ROOT"] = str(tmp_path / "static")
    env["MEDIA_ROOT"] = str(tmp_path / "media")
    env.update(variables)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The variables the README's "Running in production" section sets."""
    variables = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),  # 86 random URL-safe characters
        "ALLOWED_HOSTS": "backoffice.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://backoffice.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    variables.update(overrides)
    return _env(tmp_path, **variables)


def _settings(env: dict[str, str]) -> dict:
    """The settings a fresh process computes from ``env``, as JSON-able values."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'DATABASES': s.DATABASES, 'DEBUG': s.DEBUG, "
        "'ALLOWED_HOSTS': s.ALLOWED_HOSTS, 'Q_CLUSTER': s.Q_CLUSTER, "
        "'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT, 'SECURE_HSTS_SECONDS': "
        "s.SECURE_HSTS_SECONDS, 'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE}, default=str))"
    )
    result = _run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- check --deploy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "database_url",
    ["", "postgres://bpo:secret@db.example.com:5432/bpo"],
    ids=["sqlite", "postgres"],
)
def test_check_deploy_is_clean_with_production_variables(tmp_path, database_url):
    env = _production(tmp_path, DATABASE_URL=database_url)
    result = _run(["manage.py", "check", "--deploy"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = _production(tmp_path)
    del env["SECRET_KEY"]
    result = _run(["manage.py", "check", "--deploy"], env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_an_empty_secret_key(tmp_path):
    result = _run(["manage.py", "check"], _production(tmp_path, SECRET_KEY=""))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_defaults_to_off(tmp_path):
    """Forgetting DEBUG must mean production, which then demands a SECRET_KEY."""
    env = _env(tmp_path)
    result = _run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert _settings(_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(64)))["DEBUG"] is False


def test_development_runs_without_any_variable_but_debug(tmp_path):
    values = _settings(_env(tmp_path, DEBUG="1"))
    assert values["DEBUG"] is True
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_production_security_defaults(tmp_path):
    values = _settings(_production(tmp_path))
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["backoffice.example.com"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000


# --- databases ---------------------------------------------------------------------------------


def test_database_url_is_parsed_for_postgresql(tmp_path):
    env = _env(
        tmp_path,
        DEBUG="1",
        DATABASE_URL="postgres://bpo:s3cret@db.example.com:6543/backlog",
        DB_CONN_MAX_AGE="120",
    )
    db = _settings(env)["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], int(db["PORT"])) == (
        "backlog",
        "bpo",
        "s3cret",
        "db.example.com",
        6543,
    )
    assert db["CONN_MAX_AGE"] == 120
    assert db["CONN_HEALTH_CHECKS"] is True
    # SQLite's tuning must not leak into PostgreSQL's connection options.
    assert "transaction_mode" not in db.get("OPTIONS", {})
    assert "init_command" not in db.get("OPTIONS", {})


def test_sqlite_is_the_default_with_wal_and_immediate_transactions(tmp_path):
    db = _settings(_env(tmp_path, DEBUG="1"))["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "db.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["timeout"] >= 5


def test_sqlite_from_database_url_gets_the_same_tuning(tmp_path):
    env = _env(tmp_path, DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}")
    db = _settings(env)["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "other.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_sqlite_connection_really_is_in_wal_mode(tmp_path):
    """Not just configured: a real connection to a file database reports WAL."""
    code = (
        "import django; django.setup(); from django.db import connection; "
        "cur = connection.cursor(); cur.execute('PRAGMA journal_mode'); "
        "mode = cur.fetchone()[0]; cur.execute('PRAGMA foreign_keys'); "
        "print(mode, cur.fetchone()[0])"
    )
    result = _run(["-c", code], _env(tmp_path, DEBUG="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "1"]


def test_sqlite_transactions_take_the_write_lock_up_front(tmp_path):
    """IMMEDIATE: an atomic block holds the write lock from its first statement, so a second
    writer waits at BEGIN instead of failing half-way through its own transaction."""
    code = "\n".join(
        [
            "import sqlite3, django",
            "django.setup()",
            "from django.db import connection, transaction",
            "with transaction.atomic():",
            "    connection.ensure_connection()",
            "    other = sqlite3.connect(connection.settings_dict['NAME'], timeout=0,",
            "                            isolation_level=None)",
            "    try:",
            "        other.execute('BEGIN IMMEDIATE')",
            "        print('free')",
            "    except sqlite3.OperationalError as exc:",
            "        print('locked' if 'locked' in str(exc) else exc)",
        ]
    )
    result = _run(["-c", code], _env(tmp_path, DEBUG="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "locked"


def test_test_database_settings_match_the_vendor(settings):
    """In this test process: SQLite runs gets the tuning, PostgreSQL runs use DATABASE_URL."""
    from django.db import connection

    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
        assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    else:
        assert connection.vendor == "postgresql"
        assert os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        assert db["CONN_HEALTH_CHECKS"] is True


# --- background tasks --------------------------------------------------------------------------


def test_task_timeout_stays_below_retry(tmp_path):
    """django-q2 hands a task out twice if it outlives ``retry`` (FIELD-NOTES)."""
    q_cluster = _settings(_production(tmp_path))["Q_CLUSTER"]
    assert q_cluster["timeout"] < q_cluster["retry"]
    assert q_cluster["redis"] == "redis://127.0.0.1:6379/0"
    assert "orm" not in q_cluster
    q_cluster = _settings(_env(tmp_path, DEBUG="1"))["Q_CLUSTER"]
    assert q_cluster["orm"] == "default"
    assert "redis" not in q_cluster


# --- login lockout, idle timeout -------------------------------------------------------------

_LOGIN_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'enabled': s.AXES_ENABLED, 'limit': s.AXES_FAILURE_LIMIT, "
    "'cooloff': s.AXES_COOLOFF_TIME.total_seconds(), 'params': s.AXES_LOCKOUT_PARAMETERS, "
    "'proxies': s.TRUSTED_PROXY_COUNT, 'idle': s.SESSION_IDLE_TIMEOUT.total_seconds()}))"
)


def test_login_and_session_defaults(tmp_path):
    result = _run(["-c", _LOGIN_SETTINGS], _production(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "enabled": True,
        "limit": 5,
        "cooloff": 15 * 60,
        "params": [["username", "ip_address"]],
        "proxies": 0,
        "idle": 30 * 60,
    }


def test_login_and_session_limits_come_from_the_environment(tmp_path):
    env = _production(
        tmp_path,
        LOGIN_FAILURE_LIMIT="8",
        LOGIN_COOLOFF_MINUTES="45",
        TRUSTED_PROXY_COUNT="1",
        SESSION_IDLE_MINUTES="10",
    )
    result = _run(["-c", _LOGIN_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert (values["limit"], values["cooloff"], values["proxies"], values["idle"]) == (
        8,
        45 * 60,
        1,
        10 * 60,
    )
    # The lock stays per user name *and* address whatever the limits.
    assert values["params"] == [["username", "ip_address"]]


@pytest.mark.parametrize("variable", ["LOGIN_COOLOFF_MINUTES", "LOGIN_FAILURE_LIMIT"])
def test_a_zero_lockout_setting_is_refused(tmp_path, variable):
    # A zero cool-off would make django-axes lock for ever.
    result = _run(["manage.py", "check"], _production(tmp_path, **{variable: "0"}))
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be at least 1." in result.stderr
