"""Import an order file from the command line (scheduled feeds): same rules as the admin."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from clients.models import Client
from orders.importing.pipeline import OrderFileImport
from orders.importing.reader import FileProblem


class Command(BaseCommand):
    help = (
        "Import orders from a CSV file (native or Shopify export). Exits 1 when rows were "
        "rejected or conflicted, 2 when the file could not be read, 3 when the database stopped it."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--client", required=True, help="client code, e.g. ACME")
        parser.add_argument("--format", choices=["auto", "native", "shopify"], default="auto")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--rejects", help="write rejected rows (with an error column) here")
        parser.add_argument("--chunk", type=int, default=1000, help="orders per transaction")

    def handle(self, *args, file, client, format, dry_run, rejects, chunk, **options):
        try:
            target = Client.objects.get(code=client.upper())
        except Client.DoesNotExist:
            raise CommandError(f"No client with code {client}.") from None
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            rejects_fh = (
                stack.enter_context(open(rejects, "w", encoding="utf-8", newline=""))
                if rejects
                else None
            )
            fh = stack.enter_context(path.open("rb"))
            try:
                result = OrderFileImport(
                    client=target,
                    binary=fh,
                    file_name=path.name,
                    requested_format=format,
                    dry_run=dry_run,
                    rejects=rejects_fh,
                    chunk_orders=chunk,
                ).run()
            except FileProblem as exc:
                self.stderr.write(f"{path.name}: {exc}")
                sys.exit(2)
            except DatabaseError as exc:  # an outage, not the data: bad orders are rejected
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self.stderr.write(
                    f"{path.name}: the database stopped the import ({first}). Orders created "
                    "before it stopped are kept; run the command again to import the rest."
                )
                sys.exit(3)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{path.name} ({result.format}, {result.total_rows} rows, {elapsed:.1f}s)"
        )
        self.stdout.write(("Dry run: " if dry_run else "") + result.summary(dry_run))
        for error in result.errors[:50]:
            self.stdout.write(f"  line {error.line}, {error.column}: {error.message}")
        if result.error_count > 50:
            self.stdout.write(f"  … and {result.error_count - 50} more (see --rejects)")
        if result.orders_rejected or result.orders_conflict:
            sys.exit(1)
