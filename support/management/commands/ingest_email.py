"""Read one RFC 822 e-mail (a file, or stdin as a mail server's pipe delivers it) and turn it
into a ticket message. Exits with status 65 (EX_DATAERR) when the message is refused, so the
mail server bounces it; nothing is stored then."""

import sys

from django.core.management.base import BaseCommand, CommandError

from support.exceptions import MalformedEmail
from support.inbound import email_ingest


class Command(BaseCommand):
    help = "Ingest one inbound e-mail (RFC 822) from a file or stdin into the support tickets."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default="-", help="File to read; '-' = stdin.")

    def handle(self, *args, path="-", **options):
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            result = email_ingest(raw=raw)
        except MalformedEmail as exc:
            raise CommandError(f"Message refused: {exc}", returncode=65) from exc
        t = result.ticket
        if result.duplicate:
            what = "already stored"
        elif result.created:
            what = "new ticket"
        else:
            what = "reply added"
        order = f", order {t.order.number}" if t.order_id else ""
        self.stdout.write(f"{t.ref}: {what} ({t.client.code}{order})")
