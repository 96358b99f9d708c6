"""Triage: checked orders against what exists. An order number known for the client with the
same lines is skipped ("already imported"), with other lines a conflict (never overwritten);
one this job created before an interruption is counted as created; orders cancelled or
fulfilled in the shop are skipped; and the units the file's new orders ask of each product
must fit the stock level counters (else that order is rejected)."""

from __future__ import annotations

from collections import Counter

from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Max

from clients.models import Client
from inventory.models import StockLevel
from orders.importing.formats import Layout, cell
from orders.importing.results import Report, RowError, shown
from orders.importing.rows import Draft
from orders.models import ImportedOrder, Order, OrderLine

# Stock level counters an import adds to (``backordered``; ``allocated`` is bounded by
# ``on_hand``) are 32-bit integers on PostgreSQL.
COUNTER_MAX = BaseDatabaseOperations.integer_field_ranges[
    StockLevel._meta.get_field("backordered").get_internal_type()
][1]


class Triage:
    """Sorts the checked drafts of one file, chunk by chunk (``sort``)."""

    def __init__(
        self,
        *,
        client: Client,
        layout: Layout,
        report: Report,
        job_id: int | None = None,
        resume: bool = False,
    ) -> None:
        self.client, self.layout, self.report = client, layout, report
        self.result = report.result
        self.job_id, self.resume = job_id, resume and job_id is not None
        self._units: Counter = Counter()  # units of each product in the file's new orders
        self._headroom = self._stock_headroom()
        self.headroom_share = 1  # 2 when a helper process triages the other half of the file

    def sort(self, drafts: list[Draft]) -> list[Draft]:
        """The drafts to create; the others are counted and reported (rejected, skipped,
        conflicting, or created by this job before)."""
        result = self.result
        numbers = [d.number for d in drafts if d.data is not None or d.cancelled]
        existing: dict[str, tuple[str, list]] = {}
        ours: set[str] = set()  # created by this job before it was interrupted
        if numbers:
            rows = Order.objects.filter(client=self.client, number__anyof=numbers).values_list(
                "id", "number", "status"
            )
            ids = {}
            for pk, number, status in rows:
                existing[number] = (status, [])
                ids[pk] = number
            if ids:
                for order_id, sku, qty, price in OrderLine.objects.filter(
                    order_id__anyof=list(ids)
                ).values_list("order_id", "product__sku", "quantity", "unit_price"):
                    existing[ids[order_id]][1].append((sku, qty, price))
                if self.resume:
                    ours = {
                        ids[order_id]
                        for order_id in ImportedOrder.objects.filter(
                            job_id=self.job_id, order_id__anyof=list(ids)
                        ).values_list("order_id", flat=True)
                    }
        good: list[Draft] = []
        for draft in drafts:
            if draft.errors:
                self.report.reject(draft)
                continue
            if ours and draft.number in ours:
                result.orders_created_earlier += 1
                result.lines_created_earlier += len(existing[draft.number][1])
                continue
            if draft.fulfilled:
                result.orders_skipped += 1
                result.skip_reasons["already fulfilled in the shop"] += 1
                continue
            known = existing.get(draft.number)
            if draft.cancelled:
                if known and known[0] not in ("cancelled",):
                    self.report.conflict(
                        draft,
                        f"Order {draft.number} is cancelled in the shop file but is "
                        f"{known[0]} here: cancel it in the back-office if that is right.",
                    )
                else:
                    result.orders_skipped += 1
                    result.skip_reasons["cancelled in the shop"] += 1
                continue
            if known is not None:
                if tuple(sorted(known[1])) == draft.fingerprint:
                    result.orders_skipped += 1
                    result.skip_reasons["already imported"] += 1
                else:
                    self.report.conflict(
                        draft,
                        f"Order {draft.number} was imported before with different lines; it "
                        "was not changed. Correct it in the back-office or use a new number.",
                    )
                continue
            if self._exceeds_headroom(draft):
                self.report.reject(draft)
                continue
            result.orders_new += 1
            result.lines_new += len(draft.data.lines)
            good.append(draft)
        return good

    def _stock_headroom(self) -> dict[int, int]:
        """Per product: how many more units its stock level counters can take."""
        return {
            product_id: COUNTER_MAX - (most or 0)
            for product_id, most in StockLevel.objects.filter(product__client=self.client)
            .values("product_id")
            .annotate(most=Max("backordered"))
            .values_list("product_id", "most")
        }

    def _exceeds_headroom(self, draft: Draft) -> bool:
        """The units this file asks of one product must fit its stock counters (checked
        cumulatively over the file's new orders); else the order that overflows is rejected."""
        wanted: Counter = Counter()
        for ln in draft.data.lines:
            wanted[ln.product.pk] += ln.quantity
        units, headroom, share = self._units, self._headroom, self.headroom_share
        for product_id, qty in wanted.items():
            room = headroom.get(product_id, COUNTER_MAX) // share
            if units[product_id] + qty > room:
                sku = next(ln.product.sku for ln in draft.data.lines if ln.product.pk == product_id)
                sku_at = self.layout.index["sku"]
                line = next((n for n, v in draft.rows if cell(v, sku_at) == sku), draft.rows[0][0])
                draft.errors.append(
                    RowError(
                        line,
                        self.layout.columns["sku"],
                        f"SKU '{shown(sku)}': the orders of this file ask for more units than "
                        f"the stock records can count ({units[product_id] + qty:,} > {room:,}). "
                        "Check the quantities or split the file.",
                        draft.number,
                    )
                )
                return True
        units.update(wanted)
        return False
