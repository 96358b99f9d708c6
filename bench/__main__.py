"""``python -m bench [name ...] [options]``: run benchmarks and print their figures.

``python -m bench generate_backlog [options]`` fills the benchmark database with a large
backlog instead (``bench/generate_backlog.py``; ``--help`` lists its options).

Configures Django itself (``DJANGO_SETTINGS_MODULE=bpo_backoffice.settings``, ``DEBUG=1`` unless
set) and points it at PostgreSQL: ``--database-url``, else ``BENCH_DATABASE_URL``, else
``postgres://postgres@127.0.0.1:5432/bpo_bench``. The database is created when missing
(dropped first with ``--fresh-db``) and migrated; each benchmark builds its own data in it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from bench import BENCHMARKS, load
from bench.common import DEFAULT_DATABASE_URL


def _parser(modules: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run benchmarks (default: all) and print their figures.",
        epilog="Benchmarks: "
        + "; ".join(f"{name} – {getattr(mod, 'HELP', '')}" for name, mod in modules.items()),
    )
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"benchmarks to run ({', '.join(BENCHMARKS)})"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL URL; its database name must contain 'bench' (default: "
        "$BENCH_DATABASE_URL or %(default)s)",
    )
    parser.add_argument(
        "--fresh-db",
        action="store_true",
        help="drop and re-create the database first (e.g. after migrations were rewritten)",
    )
    parser.add_argument(
        "--debug-cursor",
        action="store_true",
        help="keep DEBUG's SQL logging on (off by default: production runs DEBUG=0)",
    )
    for name, mod in modules.items():
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(parser.add_argument_group(name))
    return parser


def _generate_backlog(argv: list[str]) -> int:
    """``python -m bench generate_backlog``: the data generator on the benchmark database."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL URL; its database name must contain 'bench' (default: "
        "$BENCH_DATABASE_URL or %(default)s)",
    )
    common.add_argument("--fresh-db", action="store_true", help="drop and re-create it first")
    known, _rest = common.parse_known_args(argv)
    # Settings read DATABASE_URL once, at import; django.setup() connects to nothing yet.
    os.environ["DATABASE_URL"] = known.database_url
    import django

    django.setup()
    from bench.generate_backlog import BacklogError, add_arguments, generate_backlog

    parser = argparse.ArgumentParser(
        prog="python -m bench generate_backlog",
        description="Fill the benchmark database with a large, consistent backlog.",
        parents=[common],
    )
    add_arguments(parser)
    args = parser.parse_args(argv)

    from django.conf import settings

    from bench.common import ensure_database, migrate

    ensure_database(args.database_url, fresh=args.fresh_db)
    settings.DEBUG = False  # no SQL logging (see main)
    migrate()
    options = {k: v for k, v in vars(args).items() if k not in ("database_url", "fresh_db")}
    try:
        generate_backlog(**options)
    except BacklogError as exc:
        print(f"generate_backlog: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bpo_backoffice.settings")
    os.environ.setdefault("DEBUG", "1")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate_backlog"]:
        return _generate_backlog(argv[1:])
    modules = {name: load(name) for name in BENCHMARKS}
    args = _parser(modules).parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(BENCHMARKS)}")
        return 2

    from bench.common import database_label, ensure_database, migrate

    state = ensure_database(args.database_url, fresh=args.fresh_db)
    # Settings read DATABASE_URL once, at import: set it before Django is configured.
    os.environ["DATABASE_URL"] = args.database_url
    import django
    from django.conf import settings

    django.setup()
    if not args.debug_cursor:
        # DEBUG=1 lets the settings load without production secrets, but it also makes every
        # cursor log its SQL; that is development overhead production (DEBUG=0) does not pay.
        settings.DEBUG = False
    migrated = migrate()

    print(f"Python {platform.python_version()}, Django {django.get_version()}, ", end="")
    print(f"{os.cpu_count()} CPU(s), {platform.machine()}")
    print(f"Database: {database_label()} ({state}; migrate {migrated:.1f} s)")
    print(f"SQL logging (DEBUG cursor): {'on' if settings.DEBUG else 'off'}")

    ok = True
    for name in args.names or BENCHMARKS:
        started = time.perf_counter()
        print(f"\n#### {name}", flush=True)
        ok = modules[name].run(args) is not False and ok
        print(f"\n#### {name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
