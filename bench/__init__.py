"""Benchmarks: ``python -m bench [name ...] [options]`` (or ``make bench BENCH_ARGS="..."``).

Benchmarks are not tests. They print figures, and ratios against a baseline measured in the
same run; they never assert on timings. They run against PostgreSQL (``BENCH_DATABASE_URL``,
default ``postgres://postgres@127.0.0.1:5432/bpo_bench``), in a database of their own that
``python -m bench`` creates when missing (``--fresh-db`` drops it first) and migrates.

Adding a benchmark: write ``bench/<name>.py`` with

- ``HELP``: one line for ``--help``;
- ``add_arguments(group)``: optional, its own command-line options (argparse group);
- ``run(args) -> bool``: set up its data, measure, print; return False when a check after the
  measurement failed (the command then exits with status 1);

and add ``<name>`` to :data:`BENCHMARKS`. Modules must not import Django models at module
level: ``bench.__main__`` configures Django first, but ``--help`` should not need a database.
Shared helpers live in :mod:`bench.common`; bulk writes use ``core.bulk`` (the one COPY
writer). ``bench/generate_backlog.py`` is not a benchmark but the large-backlog generator
(``python -m bench generate_backlog``), used by ``admin_pages``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Run in this order when no name is given.
BENCHMARKS: tuple[str, ...] = (
    "allocation",
    "order_import",
    "admin_pages",
    "fulfillment",
    "replenishment",
    "notifications",
    "invoicing",
    "tickets",
)


def load(name: str) -> ModuleType:
    if name not in BENCHMARKS:
        raise KeyError(name)
    return importlib.import_module(f"bench.{name}")
