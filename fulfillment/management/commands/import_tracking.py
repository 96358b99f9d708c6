"""Ingest a carrier status file from the command line (for files too big for the browser)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fulfillment.exceptions import FulfillmentError
from fulfillment.models import Carrier, TrackingEvent
from fulfillment.services import tracking_events_ingest
from fulfillment.tracking_input import read_tracking_csv


class Command(BaseCommand):
    help = "Import a carrier status CSV (tracking_number, status, time, location, description)."

    def add_arguments(self, parser):
        parser.add_argument("carrier", help="carrier code, e.g. SWIFT")
        parser.add_argument("file", type=Path)

    def handle(self, *args, carrier: str, file: Path, **options):
        found = Carrier.objects.filter(code=carrier).first()
        if found is None:
            raise CommandError(f"No carrier with code {carrier}.")
        try:
            with file.open("rb") as handle:
                parsed = read_tracking_csv(handle)
        except (OSError, FulfillmentError) as exc:
            raise CommandError(str(exc)) from None
        for error in parsed.errors[:50]:
            self.stderr.write(str(error))
        report = tracking_events_ingest(
            carrier=found, events=parsed.events, source=TrackingEvent.Source.CSV
        )
        for row, number in report.unknown[:50]:
            self.stderr.write(f"row {row}: unknown tracking number {number}")
        self.stdout.write(
            f"{parsed.rows} rows: {report.created} new, {report.duplicates} duplicate, "
            f"{len(report.unknown)} unknown, {parsed.error_count} bad; "
            f"{report.orders_delivered} order(s) delivered, {report.orders_flagged} flagged."
        )
