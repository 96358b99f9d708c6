"""Import jobs: upload → preview (nothing written) → confirm → import, inline or in the
background with progress, and the same pipeline for the command line."""

from __future__ import annotations

import logging
import tempfile
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
from orders.models import ImportJob

log = logging.getLogger(__name__)

BACKGROUND_ROWS = getattr(settings, "IMPORT_BACKGROUND_ROWS", 5000)
PROGRESS_EVERY_ROWS = 2000


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
        status=ImportJob.Status.IMPORTING, started_at=timezone.now(), processed_rows=0
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
    if not can_import(user, job.client):
        raise ImportNotAllowed(f"You may not discard imports of {job.client.code}.")
    updated = ImportJob.objects.filter(
        pk=job.pk, status__in=[ImportJob.Status.PREVIEWED, ImportJob.Status.FAILED]
    ).update(status=ImportJob.Status.DISCARDED, finished_at=timezone.now())
    if not updated:
        raise OrderError("Only a previewed import can be discarded.")
    job.refresh_from_db()
    return job


def _enqueue(func: str, job_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(func, job_id, task_name=f"import-{job_id}", group="imports")
    )


def _progress_saver(job_id: int):
    state = {"last": 0}

    def save(result: ImportResult, line: int) -> None:
        # Work done: rows checked (first phase), then lines created (second phase).
        done = result.rows_checked + result.lines_created
        if done - state["last"] < PROGRESS_EVERY_ROWS and line:
            return
        state["last"] = done
        ImportJob.objects.filter(pk=job_id).update(
            processed_rows=result.rows_checked,
            orders_new=result.orders_new,
            orders_created=result.orders_created,
            lines_created=result.lines_created,
            orders_rejected=result.orders_rejected,
            orders_conflict=result.orders_conflict,
            orders_skipped=result.orders_skipped,
            rows_rejected=result.rows_rejected,
        )

    return save


def _fail(job: ImportJob, message: str) -> None:
    job.status, job.message, job.finished_at = ImportJob.Status.FAILED, message, timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])


def _execute(job: ImportJob, *, dry_run: bool) -> None:
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
                )
                result = importer.run()
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
        job.orders_created = result.orders_created
        job.lines_created = result.lines_created
        job.errors = [e.as_dict() for e in result.errors]
        job.message = result.summary(dry_run)
        if result.orders_rejected or result.orders_conflict:
            rejects.seek(0)
            job.error_report.save(
                f"rejected-{job.pk}.csv", File(rejects, name=f"rejected-{job.pk}.csv"), save=False
            )
        job.status = ImportJob.Status.PREVIEWED if dry_run else ImportJob.Status.DONE
        if not dry_run:
            job.finished_at = timezone.now()
        job.save()


def import_job_preview(*, job_id: int) -> None:
    """Check the whole file and record what an import would do. Writes no orders."""
    job = ImportJob.objects.select_related("client", "user").get(pk=job_id)
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATING):
        return  # already previewed (a retried task): nothing to do
    job.status, job.started_at = ImportJob.Status.VALIDATING, timezone.now()
    # _execute ends with a full save of ``job``: the instance must carry what is written here.
    ImportJob.objects.filter(pk=job_id).update(status=job.status, started_at=job.started_at)
    _execute(job, dry_run=True)


def import_job_run(*, job_id: int) -> None:
    """Create the orders of a confirmed job. Safe to re-run: known orders are skipped."""
    job = ImportJob.objects.select_related("client", "user").get(pk=job_id)
    if job.status != ImportJob.Status.IMPORTING:
        return
    _execute(job, dry_run=False)
