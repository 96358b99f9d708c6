"""Create (or update) the periodic django-q2 schedules. Idempotent: safe on every deploy.

Each schedule has a unique name (re-running updates it, never duplicates it). Missed runs are
not replayed after downtime (``Q_CLUSTER["catch_up"] = False``, checked here), and every
task's timeout stays below the cluster's ``retry`` so a slow task is never started twice.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_q.models import Schedule

# Replenishment: how often (minutes) and how long one run may take (seconds, < retry).
REPLENISHMENT_MINUTES = int(getattr(settings, "REPLENISHMENT_EVERY_MINUTES", 60))
REPLENISHMENT_TIMEOUT = int(getattr(settings, "REPLENISHMENT_TIMEOUT", 900))

SCHEDULES = [
    # name, dotted task path, every N minutes, task options
    ("Refresh order priorities", "orders.tasks.refresh_priorities", 5, {}),
    ("Fill backorders (safety net)", "orders.tasks.fill_backorders", 30, {}),
    (
        "Replenishment run",
        "inventory.tasks.run_replenishment",
        REPLENISHMENT_MINUTES,
        {"timeout": REPLENISHMENT_TIMEOUT},
    ),
    ("Expected availability of backorders", "orders.tasks.refresh_expected_availability", 30, {}),
    ("Recover interrupted imports", "orders.tasks.recover_imports", 5, {}),
    ("Release stock of long payment/credit holds", "orders.tasks.expire_payment_holds", 15, {}),
    # Higher apps' tasks by dotted path (orders never imports them).
    ("Customer delay notices", "support.tasks.scan_delays", 60, {}),
    (
        "Send held customer e-mails (quiet hours, retries)",
        "support.tasks.flush_notifications",
        2,
        {},
    ),
    # Idempotent (one escalation per ticket × trigger × level); a run takes seconds.
    ("Ticket SLA and escalation scan", "support.tasks.scan_escalations", 5, {"timeout": 240}),
]


class Command(BaseCommand):
    help = "Create or update the periodic background schedules."

    def handle(self, *args, **options):
        cluster = settings.Q_CLUSTER
        if cluster.get("catch_up", True):
            raise CommandError("Set Q_CLUSTER['catch_up'] = False: missed runs must not replay.")
        for name, func, minutes, q_options in SCHEDULES:
            timeout = q_options.get("timeout", cluster.get("timeout"))
            if timeout and cluster.get("retry") and timeout >= cluster["retry"]:
                raise CommandError(f"{name}: timeout {timeout} s must be below retry.")
            schedule, created = Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                    "kwargs": f"q_options={q_options!r}" if q_options else None,
                },
            )
            if created:
                # First run one period from now, not at once (FIELD-NOTES: next_run).
                schedule.next_run = timezone.now() + timedelta(minutes=minutes)
                schedule.save(update_fields=["next_run"])
            self.stdout.write(f"{'created' if created else 'updated'}: {name} every {minutes} min")
