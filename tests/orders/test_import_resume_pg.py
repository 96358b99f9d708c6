"""A killed import (issue #11, finding 8), with a real worker process killed by SIGKILL on
PostgreSQL: the job is found (on its page, or by the periodic check), marked interrupted with
the count of orders it created read from the database, and resumed — from the page, or by the
queue re-running the task — without doubling an order and with a true summary.

The worker is a separate Python process running the real task entry point. It stops at a known
point, right after its first chunk of orders is committed (a receiver of the import's
``import_chunk_created`` signal prints a line and waits on its stdin), so the test kills it
there without sleeping or guessing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from clients.models import Membership
from orders import tasks
from orders.importing.jobs import import_job_create, import_job_run, import_jobs_recover
from orders.models import ImportedOrder, ImportJob, Order, OrderLine
from tests.invariants import assert_stock_invariants
from tests.orders.import_files import NATIVE_HEADER, csv_bytes, native_order

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="a worker in another process needs a shared database: PostgreSQL "
        "(set DATABASE_URL); the SQLite test database is private to the test process",
    ),
]

ORDERS = 25
CHUNK = 10

WORKER = """
import os, sys
import django
django.setup()
from orders.importing import pipeline
from orders.signals import import_chunk_created
pipeline.CREATE_CHUNK_ORDERS = {chunk}

def stop_here(sender, orders_created, **kwargs):
    print("CHUNK", orders_created, flush=True)
    sys.stdin.readline()  # until the test lets go (it kills us instead)

import_chunk_created.connect(stop_here)
from orders import tasks
tasks.run_import({job_id})
print("DONE", flush=True)
"""


def start_worker(job_id: int) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "bpo_backoffice.settings",
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER.format(chunk=CHUNK, job_id=job_id)],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def world(make_client, make_warehouse, make_product, make_user):
    acme = make_client("ACME")
    make_product(acme, "LAMP", stock={make_warehouse("EAST"): 12})  # scarce: some backordered
    supervisor = make_user("sup", clients=[acme], role=Membership.Role.SUPERVISOR)
    rows = [
        row
        for i in range(ORDERS)
        for row in native_order(f"K-{i:03}", [("LAMP", "1", "10.00")], customer_email=f"{i}@x.io")
    ]
    upload = SimpleUploadedFile("orders.csv", csv_bytes(NATIVE_HEADER, rows))
    job = import_job_create(client=acme, user=supervisor, upload=upload)  # previewed inline
    assert (job.status, job.orders_new) == (ImportJob.Status.PREVIEWED, ORDERS)
    # Confirmed, as the page does, but queued for a worker instead of run here.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.IMPORTING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    return job, supervisor


def kill_after_first_chunk(job: ImportJob) -> None:
    worker = start_worker(job.pk)
    try:
        line = worker.stdout.readline()
        assert line == f"CHUNK {CHUNK}\n", worker.stderr.read()
        # A live worker holds the lease: a re-run of the task (the queue's retry) and the
        # periodic check leave it alone.
        import_job_run(job_id=job.pk)
        assert import_jobs_recover() == 0
        assert Order.objects.count() == CHUNK
        assert ImportJob.objects.get(pk=job.pk).worker.endswith(f":{worker.pid}")
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        worker.stdout.close()
        worker.stderr.close()
        worker.stdin.close()
    assert worker.returncode == -signal.SIGKILL
    job.refresh_from_db()
    assert job.status == ImportJob.Status.IMPORTING  # stuck, until someone looks


def assert_done_and_true(job: ImportJob) -> None:
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert Order.objects.count() == ORDERS
    assert OrderLine.objects.count() == ORDERS
    assert ImportedOrder.objects.filter(job=job).count() == ORDERS
    assert (job.orders_created, job.lines_created, job.orders_skipped) == (ORDERS, ORDERS, 0)
    assert job.message == (
        f"{ORDERS} order(s) with {ORDERS} line(s) created ({CHUNK} of them before the "
        "interruption)."
    )
    assert_stock_invariants()


@pytest.mark.django_db(transaction=True)
def test_a_killed_import_is_marked_on_its_page_with_a_true_count_and_resumed_there(world, client):
    job, supervisor = world
    kill_after_first_chunk(job)
    client.force_login(supervisor)

    page = client.get(reverse("admin:orders_importjob_change", args=[job.pk])).content.decode()

    job.refresh_from_db()
    assert job.status == ImportJob.Status.INTERRUPTED
    assert (job.orders_created, job.lines_created) == (CHUNK, CHUNK)
    assert Order.objects.count() == CHUNK  # the count is the database's
    assert job.message == (
        f"The import stopped: the process working on it ended. {CHUNK} order(s) with {CHUNK} "
        "line(s) were created and are kept. Resume it to import the rest: orders already "
        "created are not created twice."
    )
    assert 'id="resume-import"' in page

    response = client.post(reverse("admin:orders_importjob_resume", args=[job.pk]))

    assert response.status_code == 302
    assert_done_and_true(job)
    # Resuming again is refused with a message, and changes nothing.
    client.post(reverse("admin:orders_importjob_resume", args=[job.pk]))
    assert Order.objects.count() == ORDERS


@pytest.mark.django_db(transaction=True)
def test_the_periodic_check_marks_it_and_a_re_run_of_the_task_finishes_it_truthfully(world):
    job, _ = world
    kill_after_first_chunk(job)

    assert import_jobs_recover() == 1
    job.refresh_from_db()
    assert (job.status, job.orders_created) == (ImportJob.Status.INTERRUPTED, CHUNK)
    tasks.run_import(job.pk)  # a stale queued run of an interrupted job does nothing
    assert Order.objects.count() == CHUNK

    # Resumed (status back to importing) and picked up by a worker: the task itself.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.IMPORTING)
    tasks.run_import(job.pk)

    assert_done_and_true(job)


@pytest.mark.django_db(transaction=True)
def test_the_queue_re_running_the_task_of_a_dead_worker_takes_over_without_doubling(world):
    """The ORM broker re-runs a task after its retry time: before, it re-imported the file and
    reported the first run's orders as skipped ("15000 created; 5000 skipped")."""
    job, _ = world
    kill_after_first_chunk(job)

    tasks.run_import(job.pk)

    assert_done_and_true(job)
