"""Exports of the queue: orders or order lines, CSV (default) or XLSX, with the labels people
read on the pages (status and segment names, Yes/No), moments in each order's client's time
zone (core/dates.py), and every text cell neutralised against spreadsheet formulas.

Small exports are written in the request (``export_write``); large ones by a worker through an
:class:`~orders.models.ExportJob` (``export_job_create`` → task ``orders.tasks.run_export`` →
``export_job_run``), whose page polls its progress.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from core.dates import local_datetime
from orders.models import ExportJob, Order, OrderLine
from orders.resources import neutralise_formula

# Up to this many orders the export is written while the user waits; above, by a worker.
INLINE_MAX_ORDERS = 5000
# The most orders one export takes (a job keeps their ids).
MAX_ORDERS = 500_000
CHUNK = 2000


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


@dataclass(frozen=True)
class Column:
    header: str
    value: callable  # (row object) -> cell value


ORDER_COLUMNS = [
    Column("Order number", lambda o: o.number),
    Column("Client", lambda o: o.client.code),
    Column("Customer", lambda o: o.customer.name if o.customer_id else ""),
    Column("Customer e-mail", lambda o: o.customer.email if o.customer_id else ""),
    Column("Status", lambda o: o.get_status_display()),
    Column("Segment", lambda o: o.get_segment_display()),
    Column("Priority", lambda o: o.priority_score),
    Column("Placed (client time)", lambda o: local_datetime(o.placed_at, o.client.timezone)),
    Column("Ship by (client time)", lambda o: local_datetime(o.ship_by, o.client.timezone)),
    Column("Time zone", lambda o: o.client.timezone),
    Column("Service", lambda o: o.get_service_level_display()),
    Column("Payment", lambda o: o.get_payment_status_display()),
    Column("Currency", lambda o: o.currency),
    Column("Total", lambda o: o.total),
    Column("Assigned to", lambda o: o.assigned_to.username if o.assigned_to_id else ""),
    Column("Expedited", lambda o: _yes_no(o.expedite)),
    Column("Hold reason", lambda o: o.get_hold_type_display() if o.hold_type else ""),
    Column("Hold detail", lambda o: o.hold_reason),
    Column("Carrier exception", lambda o: _yes_no(o.exception_flag)),
    Column("Delay reason", lambda o: o.delay_reason),
    Column("Ship-to name", lambda o: o.ship_to_name),
    Column("Ship-to city", lambda o: o.ship_to_city),
    Column("Ship-to postcode", lambda o: o.ship_to_postcode),
    Column("Ship-to country", lambda o: o.ship_to_country),
]

LINE_COLUMNS = [
    Column("Order number", lambda ln: ln.order.number),
    Column("Client", lambda ln: ln.order.client.code),
    Column("Order status", lambda ln: ln.order.get_status_display()),
    Column("Line", lambda ln: ln.line_no),
    Column("SKU", lambda ln: ln.product.sku),
    Column("Product", lambda ln: ln.product.name),
    Column("Ordered", lambda ln: ln.quantity),
    Column("Allocated", lambda ln: ln.qty_allocated),
    Column("Backordered", lambda ln: ln.qty_backordered),
    Column("Shipped", lambda ln: ln.qty_shipped),
    Column("Cancelled", lambda ln: ln.qty_cancelled),
    Column("Unit price", lambda ln: ln.unit_price),
    Column("Currency", lambda ln: ln.order.currency),
]


def _chunks(order_ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(order_ids), CHUNK):
        yield order_ids[start : start + CHUNK]


def export_rows(*, order_ids: list[int], kind: str) -> Iterator[tuple[int, list]]:
    """``(orders done so far, row)`` for each row, header first, in the order of ``order_ids``.

    The caller scopes ``order_ids`` (the admin passes the user's filtered queue)."""
    columns = LINE_COLUMNS if kind == ExportJob.Kind.LINES else ORDER_COLUMNS
    yield 0, [c.header for c in columns]
    done = 0
    for ids in _chunks(order_ids):
        if kind == ExportJob.Kind.LINES:
            objects: Iterable = (
                OrderLine.objects.filter(order_id__in=ids)
                .select_related("order__client", "product")
                .order_by("order_id", "line_no")
            )
            position = {pk: i for i, pk in enumerate(ids)}
            objects = sorted(objects, key=lambda ln: (position[ln.order_id], ln.line_no))
        else:
            found = Order.objects.filter(pk__in=ids).select_related(
                "client", "customer", "assigned_to"
            )
            by_id = {o.pk: o for o in found}
            objects = [by_id[pk] for pk in ids if pk in by_id]
        done += len(ids)
        for obj in objects:
            yield done, [neutralise_formula(c.value(obj)) for c in columns]


def export_write(rows: Iterable[list], *, file_format: str) -> bytes:
    """The rows as a CSV (UTF-8 with a byte-order mark, so Excel reads accents) or XLSX file."""
    if file_format == ExportJob.Format.XLSX:
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("Export")
        for row in rows:
            sheet.append([str(v) if hasattr(v, "as_tuple") else v for v in row])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_filename(*, kind: str, file_format: str) -> str:
    name = "order-lines" if kind == ExportJob.Kind.LINES else "orders"
    return f"{name}-{timezone.now():%Y%m%d-%H%M}.{file_format}"


def export_job_create(*, user, order_ids: list[int], kind: str, file_format: str) -> ExportJob:
    """Record a large export and queue its worker (after the commit). Writes one job row."""
    if len(order_ids) > MAX_ORDERS:
        raise ValueError(f"At most {MAX_ORDERS:,} orders per export: filter the queue further.")
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=user,
            kind=kind,
            file_format=file_format,
            order_ids=list(order_ids),
            total_orders=len(order_ids),
        )

        def enqueue():
            from django_q.tasks import async_task

            async_task(
                "orders.tasks.run_export", job.pk, task_name=f"export-{job.pk}", group="exports"
            )

        transaction.on_commit(enqueue)
    return job


def export_job_run(*, job_id: int) -> ExportJob:
    """Write the job's file, saving progress every chunk. Idempotent: a finished job is left
    alone; a re-run (worker retry) starts the file again."""
    job = ExportJob.objects.get(pk=job_id)
    if job.status == ExportJob.Status.DONE:
        return job
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, done_orders=0)
    try:
        last_saved = 0

        def tracked():
            nonlocal last_saved
            for done, row in export_rows(order_ids=job.order_ids, kind=job.kind):
                if done - last_saved >= CHUNK:
                    ExportJob.objects.filter(pk=job.pk).update(done_orders=done)
                    last_saved = done
                yield row

        content = export_write(tracked(), file_format=job.file_format)
        job.file.save(
            export_filename(kind=job.kind, file_format=job.file_format),
            ContentFile(content),
            save=False,
        )
        job.status = ExportJob.Status.DONE
        job.done_orders = job.total_orders
        job.order_ids = []  # not needed any more
    except Exception as exc:  # the user sees why on the job page
        job.status = ExportJob.Status.FAILED
        job.message = f"The export failed: {exc}"
    job.finished_at = timezone.now()
    job.save()
    return job
