"""Import jobs: upload → preview (nothing written) → confirm → import, inline or in the
background with progress, and the same pipeline for the command line.

A running job holds a lease: the worker writes its name ("host:pid") on the job when it
claims it and renews ``heartbeat_at`` while it works. A job whose worker is gone (its pid no
longer exists on this host, or no heartbeat for ``IMPORT_LEASE_SECONDS``) is found by the
periodic ``import_jobs_recover`` and whenever its page is shown, and marked interrupted with
the count of orders it created read from the database (``ImportedOrder``, written in each
chunk's transaction). A supervisor resumes it; the re-run recognises the orders this job
created already, so nothing is doubled and the summary stays true. A task re-run by the queue
while the first worker is still alive finds the lease taken and does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from clients.models import Client
from clients.scoping import is_supervisor_for
from orders.exceptions import OrderError
from orders.importing.pipeline import ImportResult, OrderFileImport
from orders.importing.reader import FileProblem, count_records
from orders.models import ImportedOrder, ImportJob, OrderLine

log = logging.getLogger(__name__)

BACKGROUND_ROWS = getattr(settings, "IMPORT_BACKGROUND_ROWS", 5000)
PROGRESS_EVERY_ROWS = 2000
HEARTBEAT_SECONDS = 15
RUNNING = (ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING)


def lease_seconds() -> int:
    """No heartbeat for this long: the worker is taken for dead (it beats every few seconds
    while it works; one chunk of orders must fit well inside)."""
    return int(getattr(settings, "IMPORT_LEASE_SECONDS", 300))


def queue_patience_seconds() -> int:
    """A job queued (not yet picked up by a worker) this long is taken as lost."""
    return int(getattr(settings, "IMPORT_QUEUE_PATIENCE_SECONDS", 3600))


class LeaseLost(Exception):
    """Another worker took the job over (this one was taken for dead): stop quietly."""


class ImportNotAllowed(OrderError):
    pass


def can_import(user, client: Client) -> bool:
    return user.has_perm("orders.import_orders") and is_supervisor_for(user, client.pk)


def import_job_create(*, client: Client, user, upload, requested_format: str = "auto") -> ImportJob:
    """Store the uploaded file and compute its preview (inline for small files, else queued).

    Nothing but the job row and the stored file is written before the user confirms.
    """
    if not can_import(user, client):
        raise ImportNotAllowed(f"You may not import orders for {client.code}.")
    if requested_format not in ImportJob.Format.values:
        raise OrderError(f"Unknown format '{requested_format}'.")
    job = ImportJob(
        client=client,
        user=user,
        file_name=Path(upload.name).name[:255],
        file_size=upload.size or 0,
        requested_format=requested_format,
    )
    job.file.save(job.file_name, upload, save=False)
    with job.file.open("rb") as fh:
        job.total_rows = count_records(fh)
    job.background = job.total_rows > BACKGROUND_ROWS
    job.save()
    if job.background:
        job.status = ImportJob.Status.VALIDATING
        job.save(update_fields=["status"])
        _enqueue("orders.tasks.preview_import", job.pk)
    else:
        import_job_preview(job_id=job.pk)
        job.refresh_from_db()
    return job


def import_job_confirm(*, job: ImportJob, user) -> ImportJob:
    """Start the real import of a previewed file (same rules as the preview, re-checked)."""
    if not can_import(user, job.client):
        raise ImportNotAllowed(f"You may not import orders for {job.client.code}.")
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEWED).update(
        status=ImportJob.Status.IMPORTING,
        started_at=timezone.now(),
        processed_rows=0,
        worker="",
        heartbeat_at=timezone.now(),  # (queued since)
    )
    if not updated:
        job.refresh_from_db()
        raise OrderError(f"This import is {job.get_status_display().lower()}; it cannot start.")
    if job.background:
        _enqueue("orders.tasks.run_import", job.pk)
    else:
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def import_job_discard(*, job: ImportJob, user) -> ImportJob:
    """Close a job that will not be imported (orders an interrupted job created stay)."""
    if not can_import(user, job.client):
        raise ImportNotAllowed(f"You may not discard imports of {job.client.code}.")
    updated = ImportJob.objects.filter(
        pk=job.pk,
        status__in=[
            ImportJob.Status.PREVIEWED,
            ImportJob.Status.FAILED,
            ImportJob.Status.INTERRUPTED,
        ],
    ).update(status=ImportJob.Status.DISCARDED, finished_at=timezone.now())
    if not updated:
        raise OrderError("Only a previewed import can be discarded.")
    job.refresh_from_db()
    return job


def import_job_resume(*, job: ImportJob, user) -> ImportJob:
    """Run an interrupted import again (supervisors of the job's client): orders this job
    created before are recognised and counted, never created twice."""
    if not can_import(user, job.client):
        raise ImportNotAllowed(f"You may not import orders for {job.client.code}.")
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.INTERRUPTED).update(
        status=ImportJob.Status.IMPORTING, worker="", heartbeat_at=timezone.now(), message=""
    )
    if not updated:
        job.refresh_from_db()
        raise OrderError(f"This import is {job.get_status_display().lower()}; it cannot resume.")
    if job.background:
        _enqueue("orders.tasks.run_import", job.pk)
    else:
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


# -- the lease -----------------------------------------------------------------------------------
def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def worker_alive(job: ImportJob, now=None) -> bool:
    """Is the process named on the job still working on it? On this host its pid must exist;
    anywhere, its heartbeat must be younger than the lease."""
    now = now or timezone.now()
    beat = job.heartbeat_at or job.started_at or job.created_at
    if not job.worker:  # queued, not picked up yet: a busy cluster may take a while
        return now - beat <= timedelta(seconds=queue_patience_seconds())
    if now - beat > timedelta(seconds=lease_seconds()):
        return False
    host, _, pid = job.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def _claim(job_id: int) -> bool:
    """Take the job's lease for this process, unless a live worker holds it."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in RUNNING:
            return False
        if job.worker and job.worker != _me() and worker_alive(job):
            return False
        ImportJob.objects.filter(pk=job_id).update(
            worker=_me(), heartbeat_at=timezone.now(), attempts=job.attempts + 1
        )
    return True


def created_by(job_id: int) -> tuple[int, int]:
    """Orders and lines this job has created, counted in the database."""
    orders = ImportedOrder.objects.filter(job_id=job_id).count()
    lines = (
        OrderLine.objects.filter(
            order_id__in=ImportedOrder.objects.filter(job_id=job_id).values("order_id")
        ).count()
        if orders
        else 0
    )
    return orders, lines


def import_job_interrupt(*, job_id: int) -> bool:
    """Mark a running job whose worker is gone: an import as interrupted with the true count
    of what it created (resumable), a check as failed (it writes nothing). Locks the job row;
    does nothing when the worker is alive. Returns whether the job was marked."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in RUNNING or worker_alive(job):
            return False
        now = timezone.now()
        if job.status == ImportJob.Status.VALIDATING:
            job.status, job.finished_at = ImportJob.Status.FAILED, now
            job.message = (
                "The check stopped: the process working on it ended. Nothing was written; "
                "upload the file again."
            )
        else:
            job.orders_created, job.lines_created = created_by(job.pk)
            job.status = ImportJob.Status.INTERRUPTED
            job.message = (
                f"The import stopped: the process working on it ended. {job.orders_created} "
                f"order(s) with {job.lines_created} line(s) were created and are kept. Resume "
                "it to import the rest: orders already created are not created twice."
            )
        job.worker, job.heartbeat_at = "", None
        job.save(
            update_fields=[
                "status",
                "finished_at",
                "message",
                "orders_created",
                "lines_created",
                "worker",
                "heartbeat_at",
            ]
        )
        log.warning("Import job %s: worker gone, marked %s", job.pk, job.status)
    return True


def import_jobs_recover() -> int:
    """Periodic: find running jobs whose worker is gone and mark them (see above)."""
    marked = 0
    for job in ImportJob.objects.filter(status__in=RUNNING).only(
        "pk", "status", "worker", "heartbeat_at", "started_at", "created_at"
    ):
        if not worker_alive(job) and import_job_interrupt(job_id=job.pk):
            marked += 1
    return marked


def import_job_check(job: ImportJob) -> ImportJob:
    """On showing a job: a running one whose worker is gone is marked first."""
    if job.status in RUNNING and not worker_alive(job):
        import_job_interrupt(job_id=job.pk)
        job.refresh_from_db()
    return job


def _enqueue(func: str, job_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(func, job_id, task_name=f"import-{job_id}", group="imports")
    )


def _progress_saver(job_id: int):
    """Saves progress and renews the lease (the heartbeat), as long as this process holds it.
    The counts of created orders include what earlier runs of the job created."""
    created_before = created_by(job_id)
    state = {"last": 0, "beat": timezone.now()}
    me = _me()

    def save(result: ImportResult, line: int) -> None:
        # Work done: rows checked (first phase), then lines created (second phase).
        done = result.rows_checked + result.lines_created
        now = timezone.now()
        due = (now - state["beat"]).total_seconds() >= HEARTBEAT_SECONDS
        if done - state["last"] < PROGRESS_EVERY_ROWS and line and not due:
            return
        state["last"], state["beat"] = done, now
        updated = ImportJob.objects.filter(pk=job_id, worker=me).update(
            heartbeat_at=now,
            processed_rows=result.rows_checked,
            orders_new=result.orders_new,
            orders_created=created_before[0] + result.orders_created,
            lines_created=created_before[1] + result.lines_created,
            orders_rejected=result.orders_rejected,
            orders_conflict=result.orders_conflict,
            orders_skipped=result.orders_skipped,
            rows_rejected=result.rows_rejected,
        )
        if not updated:
            raise LeaseLost(f"Import job {job_id} was taken over by another worker.")

    return save


def _fail(job: ImportJob, message: str) -> None:
    if job.status == ImportJob.Status.IMPORTING:  # what it created is kept: count it
        job.orders_created, job.lines_created = created_by(job.pk)
    job.status, job.message, job.finished_at = ImportJob.Status.FAILED, message, timezone.now()
    job.worker, job.heartbeat_at = "", None
    job.save(
        update_fields=[
            "status",
            "message",
            "finished_at",
            "worker",
            "heartbeat_at",
            "orders_created",
            "lines_created",
        ]
    )


def _execute(job: ImportJob, *, dry_run: bool) -> None:
    created_before = (0, 0) if dry_run else created_by(job.pk)
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejects:
        try:
            with job.file.open("rb") as fh:
                importer = OrderFileImport(
                    client=job.client,
                    binary=fh,
                    user=job.user,
                    file_name=job.file_name,
                    requested_format=job.requested_format,
                    dry_run=dry_run,
                    rejects=rejects,
                    progress=_progress_saver(job.pk),
                    job_id=None if dry_run else job.pk,
                    resume=created_before[0] > 0,
                )
                result = importer.run()
        except LeaseLost:
            log.warning("Import job %s: lease lost, another worker goes on", job.pk)
            return
        except FileProblem as exc:
            _fail(job, str(exc))
            return
        except Exception:  # a database outage, a failed helper process…: never stuck "importing"
            log.exception("Import job %s stopped", job.pk)
            _fail(
                job,
                "The import stopped on an internal error (it is logged). Orders created before "
                "it stopped are kept; upload the file again to import the rest — orders "
                "already there are skipped."
                if not dry_run
                else "The check stopped on an internal error (it is logged); nothing was "
                "written. Upload the file again.",
            )
            return
        job.detected_format = result.format
        job.total_rows = result.total_rows
        job.processed_rows = result.total_rows
        job.orders_new = result.orders_new
        job.lines_new = result.lines_new
        job.orders_skipped = result.orders_skipped
        job.orders_conflict = result.orders_conflict
        job.orders_rejected = result.orders_rejected
        job.rows_rejected = result.rows_rejected
        if dry_run:
            job.orders_created, job.lines_created = result.orders_created, result.lines_created
        else:  # from the database: true whatever happened to earlier runs of this job
            job.orders_created, job.lines_created = created_by(job.pk)
        job.errors = [e.as_dict() for e in result.errors]
        job.message = result.summary(dry_run)
        if result.orders_rejected or result.orders_conflict:
            rejects.seek(0)
            job.error_report.save(
                f"rejected-{job.pk}.csv", File(rejects, name=f"rejected-{job.pk}.csv"), save=False
            )
        job.status = ImportJob.Status.PREVIEWED if dry_run else ImportJob.Status.DONE
        job.worker, job.heartbeat_at = "", None
        if not dry_run:
            job.finished_at = timezone.now()
        # Only while this process still holds the job (else another worker took it over).
        if not ImportJob.objects.filter(pk=job.pk, worker=_me()).exists():
            log.warning("Import job %s: lease lost before the end", job.pk)
            return
        job.save()


def import_job_preview(*, job_id: int) -> None:
    """Check the whole file and record what an import would do. Writes no orders."""
    job = ImportJob.objects.select_related("client", "user").get(pk=job_id)
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATING):
        return  # already previewed (a retried task): nothing to do
    started_at = job.started_at if job.status == ImportJob.Status.VALIDATING else None
    ImportJob.objects.filter(pk=job_id, status=job.status).update(
        status=ImportJob.Status.VALIDATING, started_at=started_at or timezone.now()
    )
    if not _claim(job_id):
        return  # a live worker is on it (a task re-run by the queue)
    # _execute ends with a full save of ``job``: the instance must carry what is written here.
    job.refresh_from_db()
    _execute(job, dry_run=True)


def import_job_run(*, job_id: int) -> None:
    """Create the orders of a confirmed job. Safe to re-run: a live worker's job is left
    alone; a dead worker's job is taken over, its orders recognised, never doubled."""
    if not _claim(job_id):
        return
    job = ImportJob.objects.select_related("client", "user").get(pk=job_id)
    if job.status != ImportJob.Status.IMPORTING:
        return
    _execute(job, dry_run=False)
