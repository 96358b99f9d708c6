"""django-q2 entry points: thin, idempotent, safe to retry."""

from orders.models import OrderLine
from orders.services import backorders_fill, priorities_refresh


def refresh_priorities() -> dict:
    """Time passes: re-score open orders; only changed rows are written."""
    return priorities_refresh()


def fill_backorders() -> int:
    """Safety net: offer any available stock to waiting orders, most urgent first."""
    product_ids = sorted(
        set(
            OrderLine.objects.filter(qty_backordered__gt=0, order__status="backordered")
            .values_list("product_id", flat=True)
            .distinct()
        )
    )
    filled = 0
    for start in range(0, len(product_ids), 200):
        filled += backorders_fill(product_ids=product_ids[start : start + 200]).units_allocated
    return filled


def preview_import(job_id: int) -> None:
    from orders.importing.jobs import import_job_preview

    import_job_preview(job_id=job_id)


def run_import(job_id: int) -> None:
    from orders.importing.jobs import import_job_run

    import_job_run(job_id=job_id)


def recover_imports() -> int:
    """Periodic: imports whose worker died are marked interrupted (resumable), with the true
    count of what they created."""
    from orders.importing.jobs import import_jobs_recover

    return import_jobs_recover()


def refresh_expected_availability(product_ids: list[int] | None = None) -> int:
    """Re-date backordered lines from open purchase orders (all lines when no ids given)."""
    from orders.services import backorders_expected_refresh

    return backorders_expected_refresh(product_ids=product_ids)


def expire_payment_holds() -> int:
    """Orders held for payment/credit past their client's hours give their stock to the
    next orders by priority (orders.services.payments.payment_holds_expire)."""
    from orders.services.payments import payment_holds_expire

    return payment_holds_expire()


def run_export(job_id: int) -> None:
    """Write a large export's file (idempotent: a finished job is left alone)."""
    from orders.services.exports import export_job_run

    export_job_run(job_id=job_id)
