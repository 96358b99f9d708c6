"""Fulfillment demo data on top of ``seed_demo`` (which also runs this through a signal)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fulfillment.demo import seed_fulfillment_demo


class Command(BaseCommand):
    help = "Carriers, pick waves in progress, shipments in transit and one exception (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo data uses well-known webhook secrets; refused with DEBUG=0.")
        self.stdout.write(self.style.SUCCESS(seed_fulfillment_demo()))
