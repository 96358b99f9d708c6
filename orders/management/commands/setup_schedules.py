"""Create (or update) the periodic django-q2 schedules. Idempotent: safe on every deploy."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone
from django_q.models import Schedule

SCHEDULES = [
    # name, dotted task path, every N minutes
    ("Refresh order priorities", "orders.tasks.refresh_priorities", 5),
    ("Fill backorders (safety net)", "orders.tasks.fill_backorders", 30),
    # Higher apps' tasks by dotted path (orders never imports them).
    ("Customer delay notices", "support.tasks.scan_delays", 60),
    ("Send held customer e-mails (quiet hours, retries)", "support.tasks.flush_notifications", 2),
]


class Command(BaseCommand):
    help = "Create or update the periodic background schedules."

    def handle(self, *args, **options):
        for name, func, minutes in SCHEDULES:
            schedule, created = Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                },
            )
            if created:
                # First run one period from now, not at once (FIELD-NOTES: next_run).
                schedule.next_run = timezone.now() + timedelta(minutes=minutes)
                schedule.save(update_fields=["next_run"])
            self.stdout.write(f"{'created' if created else 'updated'}: {name} every {minutes} min")
