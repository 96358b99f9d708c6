"""The replenishment run: plan every active reorder rule and keep one draft PO per supplier ×
warehouse up to date.

How a run works (one transaction; the query count does not depend on the number of rules):

1. Take the run lock (a PostgreSQL transaction-level advisory lock; SQLite's IMMEDIATE
   transactions already let one writer in at a time). A second run — two workers, a retry
   after a timeout — waits, then finds the drafts the first one wrote and updates them.
2. Lock the open draft POs in scope (``SELECT … FOR UPDATE``): an approval cannot slip in
   between reading a draft and rewriting it.
3. Read, set-based: the rules, their stock levels, supplier terms, learnt lead times, the
   open quantities on draft and approved POs, and the demand history — one aggregate query per
   distinct demand window, through the demand provider orders registers
   (:mod:`inventory.demand`).
4. Plan each rule in memory (:func:`inventory.planning.plan`). Projected stock counts what
   is on draft and approved POs as on order — except the rule's own line on the draft this run
   rewrites, which it replaces (so a re-run sets the same quantity again instead of adding to
   it: the "PO grows on every run" bug cannot happen).
5. Write in bulk (``core.bulk``): new draft POs and lines (COPY), changed lines (one
   ``UPDATE … FROM unnest``), lines no longer needed deleted, empty drafts deleted, totals and
   expected dates, the plan of every rule that needs ordering and changed (``planned_at`` =
   when it last changed; rules with nothing to order are cleared, their page recomputes the
   plan live with :func:`reorder_rule_explain`); drafts under the client's auto-approve
   threshold are approved.

The ``UniqueConstraint`` "one draft per supplier × warehouse" is the last line of defence:
even code that bypassed the lock could not create a second draft.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.bulk import insert_rows, update_rows
from inventory.demand import demand_totals
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderRule,
    ReplenishmentPolicy,
    ReplenishmentRun,
    StockLevel,
    Supplier,
    SupplierProduct,
)
from inventory.planning import Z_BY_SERVICE_LEVEL, PlanInput, demand_stats, plan
from inventory.purchasing import po_number
from inventory.selectors import effective_lead_time, lead_time_stats

log = logging.getLogger(__name__)

RUN_LOCK_KEY = 0x5245504C  # "REPL": the advisory lock every replenishment run takes
DRAFT, APPROVED = PurchaseOrder.Status.DRAFT.value, PurchaseOrder.Status.APPROVED.value
# A run still "running" after this long died with its worker (the task timeout is shorter).
STALE_AFTER = timedelta(hours=1)


@dataclass
class RunCounts:
    rules_evaluated: int = 0
    suggestions: int = 0
    pos_created: int = 0
    pos_updated: int = 0
    pos_auto_approved: int = 0
    lines_written: int = 0
    rules_changed: int = 0
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[phase] = round(self.timings.get(phase, 0.0) + now - since, 3)
        return now


def replenishment_run(
    *, client_ids: list[int] | None = None, trigger: str = "schedule", user=None
) -> ReplenishmentRun:
    """Plan every active rule (of ``client_ids``, or of all clients) and write draft POs.

    Leaves a :class:`ReplenishmentRun` row whatever happens (``failed`` with the error when
    the plan raised; the plan's own writes are then rolled back whole). Locks: the run lock,
    then the open draft POs in scope. Triggers nothing else (drafts are not on order in stock
    levels until sent).
    """
    started = time.perf_counter()
    run = ReplenishmentRun.objects.create(
        trigger=trigger, user=user, client_ids=sorted(client_ids) if client_ids else []
    )
    ReplenishmentRun.objects.filter(
        status=ReplenishmentRun.Status.RUNNING, started_at__lt=timezone.now() - STALE_AFTER
    ).update(status=ReplenishmentRun.Status.FAILED, errors="Did not finish (worker stopped?).")
    try:
        with transaction.atomic():
            _take_run_lock()
            counts = _plan_and_write(run=run, client_ids=client_ids)
    except Exception as exc:
        log.exception("replenishment run %s failed", run.pk)
        ReplenishmentRun.objects.filter(pk=run.pk).update(
            status=ReplenishmentRun.Status.FAILED,
            finished_at=timezone.now(),
            duration_ms=int((time.perf_counter() - started) * 1000),
            errors=f"{type(exc).__name__}: {exc}"[:5000],
        )
        raise
    ReplenishmentRun.objects.filter(pk=run.pk).update(
        status=ReplenishmentRun.Status.DONE,
        finished_at=timezone.now(),
        duration_ms=int((time.perf_counter() - started) * 1000),
        rules_evaluated=counts.rules_evaluated,
        suggestions=counts.suggestions,
        pos_created=counts.pos_created,
        pos_updated=counts.pos_updated,
        pos_auto_approved=counts.pos_auto_approved,
        lines_written=counts.lines_written,
        errors="\n".join(counts.errors)[:5000],
        timings=counts.timings,
    )
    run.refresh_from_db()
    return run


def _take_run_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK_KEY])
            # The demand aggregation groups ~1M (product, day) rows: in memory, not on disk
            # (the default 4 MB spills it to temporary files). For this transaction only.
            cursor.execute("SET LOCAL work_mem = '128MB'")


def _scoped(qs, client_ids, field_name="client_id"):
    return qs if client_ids is None else qs.filter(**{f"{field_name}__in": list(client_ids)})


# The stored plan of a rule with nothing to order (as a fresh rule has it).
_NOTHING_TO_ORDER = (None, None, None, None, 0, None, None, "")


@dataclass(slots=True)
class _Terms:
    supplier_sku: str
    unit_cost: Decimal
    lead_days: int | None
    moq: int
    pack: int


def reorder_rule_explain(rule: ReorderRule) -> str:
    """The plan of one rule in words, computed now (reads only, no locks, writes nothing).

    The run stores the plan of the rules that need ordering (what the replenishment page
    lists); a rule's own page recomputes it live with the same code, for any rule.
    """
    plans = _plan_and_write(run=None, client_ids=[rule.client_id], rule_id=rule.pk, dry=True)
    return plans.get(rule.pk, "This rule is inactive (or its product is): it is not planned.")


def _plan_and_write(
    *,
    run: ReplenishmentRun | None,
    client_ids: list[int] | None,
    rule_id: int | None = None,
    dry: bool = False,
):
    counts = RunCounts()
    now = timezone.now()
    today = timezone.localdate(now)
    clock = time.perf_counter()

    # 2. Lock the drafts this run may rewrite.
    drafts = {
        (supplier_id, warehouse_id): (po_id, client_id)
        for po_id, supplier_id, warehouse_id, client_id in _scoped(
            (PurchaseOrder.objects if dry else PurchaseOrder.objects.select_for_update()).filter(
                status=DRAFT
            ),
            client_ids,
        )
        .order_by("pk")
        .values_list("pk", "supplier_id", "warehouse_id", "client_id")
    }

    # 3. Read everything set-based.
    rules_qs = ReorderRule.objects.filter(active=True, product__active=True, client__active=True)
    if rule_id is not None:
        rules_qs = rules_qs.filter(pk=rule_id)
    rules = list(
        _scoped(rules_qs, client_ids)
        .order_by("pk")
        .values_list(
            "pk",
            "client_id",
            "product_id",
            "warehouse_id",
            "supplier_id",
            "policy",
            "min_qty",
            "max_qty",
            "demand_days",
            "review_days",
            # the stored plan: rules whose plan did not change are not rewritten
            "projected",
            "daily_demand",
            "reorder_point",
            "order_up_to",
            "suggested_qty",
            "order_by",
            "days_of_cover",
            "explanation",
        )
    )
    counts.rules_evaluated = len(rules)
    if not rules:
        return counts
    levels = {
        (p, w): on_hand + on_order - allocated - backordered
        for p, w, on_hand, on_order, allocated, backordered in _scoped(
            StockLevel.objects.all(), client_ids
        ).values_list(
            "product_id", "warehouse_id", "on_hand", "on_order", "allocated", "backordered"
        )
    }
    terms: dict[tuple[int, int], _Terms] = {}
    preferred: dict[int, int] = {}
    for s, p, sku, cost, lead, moq, pack, pref in _scoped(
        SupplierProduct.objects.filter(supplier__active=True), client_ids
    ).values_list(
        "supplier_id",
        "product_id",
        "supplier_sku",
        "unit_cost",
        "lead_time_days",
        "min_order_qty",
        "pack_multiple",
        "preferred",
    ):
        terms[(s, p)] = _Terms(sku, cost, lead, moq, pack)
        if pref:
            preferred[p] = s
    suppliers = dict(
        _scoped(Supplier.objects.filter(active=True), client_ids).values_list(
            "pk", "lead_time_days"
        )
    )
    learnt = lead_time_stats(suppliers)
    z_by_client: dict[int, float] = {}
    approve_below: dict[int, Decimal] = {}
    for client_id, level, threshold in _scoped(
        ReplenishmentPolicy.objects.all(), client_ids
    ).values_list("client_id", "service_level", "auto_approve_below"):
        z_by_client[client_id] = Z_BY_SERVICE_LEVEL.get(level, 1.645)
        approve_below[client_id] = threshold

    # Units waiting on drafts and approved POs (sent ones are in the levels' on_order already).
    planned_open: dict[tuple[int, int], int] = defaultdict(int)
    draft_lines: dict[tuple[int, int], tuple[int, int]] = {}  # (po, product) → (line, qty)
    po_lines: dict[int, dict[int, tuple[int, Decimal]]] = defaultdict(dict)  # draft → lines
    # (product, warehouse) → its lines on drafts (of any supplier): the run re-decides them all
    drafted: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for line_id, po_id, status, w, p, qty, received, cost in _scoped(
        PurchaseOrderLine.objects.filter(purchase_order__status__in=(DRAFT, APPROVED)),
        client_ids,
        "purchase_order__client_id",
    ).values_list(
        "pk",
        "purchase_order_id",
        "purchase_order__status",
        "purchase_order__warehouse_id",
        "product_id",
        "quantity",
        "quantity_received",
        "unit_cost",
    ):
        planned_open[(p, w)] += max(qty - received, 0)
        if status == DRAFT:
            draft_lines[(po_id, p)] = (line_id, qty)
            po_lines[po_id][p] = (qty, cost)
            drafted[(p, w)].append((po_id, line_id, qty))

    clock = counts.lap("read", clock)
    rules_per_product: dict[int, int] = defaultdict(int)
    for rule in rules:
        rules_per_product[rule[2]] += 1
    if rule_id is not None:  # one rule: its product's demand is shared with its other rules
        for rule in rules:
            rules_per_product[rule[2]] = ReorderRule.objects.filter(
                product_id=rule[2], active=True
            ).count()
    demand = {}
    product_ids = None if client_ids is None else sorted(rules_per_product)
    for days in sorted({rule[8] for rule in rules}):
        demand[days] = demand_totals(
            since=today - timedelta(days=days), until=today, product_ids=product_ids
        )

    clock = counts.lap("demand", clock)

    # 4. Plan every rule in memory.
    rule_rows, explained = [], {}
    wanted: dict[tuple[int, int], dict[int, tuple[int, Decimal, str, str, float, int]]] = (
        defaultdict(dict)
    )
    managed: set[tuple[int, int, int]] = set()  # (supplier, warehouse, product) the run decides
    for rule in rules:
        pk, client_id, p, w, supplier_id, policy, min_qty, max_qty, days, review = rule[:10]
        supplier_id = supplier_id or preferred.get(p)
        supplier_lead = suppliers.get(supplier_id)
        t = terms.get((supplier_id, p)) if supplier_lead is not None else None
        if supplier_lead is None:
            supplier_id = None
        lead, lead_sigma, _source = effective_lead_time(
            configured=(t.lead_days if t and t.lead_days is not None else supplier_lead or 0),
            stats=learnt.get(supplier_id),
        )
        # What is on drafts for this product here is the run's to decide again (so it is not
        # on order): a re-run writes the same quantity instead of adding to it, and a line on
        # another supplier's draft (the rule's supplier changed) is moved, not doubled.
        own = sum(qty for _po, _line, qty in drafted.get((p, w), ())) if supplier_id else 0
        projected = levels.get((p, w), 0) + planned_open.get((p, w), 0) - own
        totals = demand[days].get(p)
        share = rules_per_product[p]
        if totals:
            daily, sigma = demand_stats(totals[0] / share, totals[1] / (share * share), days)
        else:
            daily = sigma = 0.0
        result = plan(
            PlanInput(
                policy=policy,
                projected=projected,
                today=today,
                min_qty=min_qty,
                max_qty=max_qty,
                daily_demand=daily,
                demand_sigma=sigma,
                demand_days=days,
                lead_days=lead,
                lead_sigma=lead_sigma,
                review_days=review,
                z=z_by_client.get(client_id, 1.645),
                moq=t.moq if t else 1,
                pack=t.pack if t else 1,
            )
        )
        text = result.explanation
        if supplier_id is None and result.suggested_qty:
            text += " — no active supplier for this product: nothing put on a PO"
        stored = (
            projected,
            round(daily, 4),
            round(result.reorder_point, 4),
            round(result.order_up_to, 4),
            result.suggested_qty,
            result.order_by,
            None if result.days_of_cover is None else round(result.days_of_cover, 2),
            text,
        )
        if dry:
            explained[pk] = text
            continue
        # Only what the replenishment page lists is stored: the plan of rules that need
        # ordering (a rule's own page recomputes any plan live). Others are cleared once.
        if not result.suggested_qty:
            stored = _NOTHING_TO_ORDER
        if stored != rule[10:]:
            rule_rows.append((pk, now, *stored))
        if result.suggested_qty:
            counts.suggestions += 1
        if supplier_id is None:
            continue
        managed.add((supplier_id, w, p))
        if result.suggested_qty:
            wanted[(supplier_id, w)][p] = (
                result.suggested_qty,
                t.unit_cost if t else Decimal(0),
                t.supplier_sku if t else "",
                text[:255],
                lead,
                client_id,
            )

    if dry:
        return explained

    # 5. Write.
    clock = counts.lap("plan", clock)
    new_lines, changed_lines, dead_lines = [], [], []
    touched: set[int] = set()
    draft_supplier = {po_id: supplier for (supplier, _w), (po_id, _c) in drafts.items()}
    for s, w, p in managed:
        for po_id, line_id, _qty in drafted.get((p, w), ()):
            if draft_supplier.get(po_id) != s:  # the rule now buys from another supplier
                dead_lines.append(line_id)
                po_lines[po_id].pop(p, None)
                touched.add(po_id)
        draft = drafts.get((s, w))
        want = wanted.get((s, w), {}).get(p)
        if draft is None:
            continue  # a new draft is created below for what is wanted
        po_id = draft[0]
        have = draft_lines.get((po_id, p))
        if want is None:
            if have is not None:
                dead_lines.append(have[0])
                po_lines[po_id].pop(p, None)
                touched.add(po_id)
            continue
        qty, cost, sku, why, _lead, _client = want
        if have is None:
            new_lines.append((po_id, p, sku, qty, cost, why))
        elif have[1] != qty or po_lines[po_id][p][1] != cost:
            changed_lines.append((have[0], qty, cost, why))
        else:
            continue
        po_lines[po_id][p] = (qty, cost)
        touched.add(po_id)

    currency = dict(
        Supplier.objects.filter(pk__in={s for s, _ in wanted}).values_list("pk", "currency")
    )
    new_groups = [(s, w) for (s, w) in wanted if (s, w) not in drafts]
    if new_groups:
        po_rows = []
        for s, w in new_groups:
            lines = wanted[(s, w)]
            client_id = next(iter(lines.values()))[5]
            po_rows.append((client_id, s, w, DRAFT, currency.get(s, "USD"), run.pk))
        ids = insert_rows(
            PurchaseOrder,
            ["client_id", "supplier_id", "warehouse_id", "status", "currency", "created_by_run_id"],
            po_rows,
        )
        update_rows(PurchaseOrder, ["number"], [(pk, po_number(pk)) for pk in ids])
        for (s, w), po_id in zip(new_groups, ids, strict=True):
            drafts[(s, w)] = (po_id, None)
            for p, (qty, cost, sku, why, _lead, _client) in wanted[(s, w)].items():
                new_lines.append((po_id, p, sku, qty, cost, why))
                po_lines[po_id][p] = (qty, cost)
        counts.pos_created = len(ids)
    if dead_lines:
        PurchaseOrderLine.objects.filter(pk__in=dead_lines).delete()
    if changed_lines:
        update_rows(PurchaseOrderLine, ["quantity", "unit_cost", "why"], changed_lines)
    if new_lines:
        insert_rows(
            PurchaseOrderLine,
            ["purchase_order_id", "product_id", "supplier_sku", "quantity", "unit_cost", "why"],
            new_lines,
            return_ids=False,
        )
    counts.lines_written = len(new_lines) + len(changed_lines) + len(dead_lines)
    new_ids = {drafts[g][0] for g in new_groups}
    counts.pos_updated = len(touched - new_ids)

    # Totals and expected dates of the drafts that changed; empty drafts go.
    lead_of = {
        drafts[(s, w)][0]: max(v[4] for v in lines.values()) for (s, w), lines in wanted.items()
    }
    empty = [po_id for po_id in touched if not po_lines.get(po_id)]
    if empty:
        PurchaseOrder.objects.filter(pk__in=empty, status=DRAFT).delete()
    header_rows = []
    # Every draft the plan wants gets today's expected date (lead time from today), not only
    # the changed ones: a draft left alone for a week would otherwise promise last week's date.
    wanted_ids = {drafts[g][0] for g in wanted}
    for po_id in sorted((touched | new_ids | wanted_ids) - set(empty)):
        total = sum((qty * cost for qty, cost in po_lines[po_id].values()), Decimal(0))
        expected = today + timedelta(days=math.ceil(lead_of.get(po_id, 0)))
        header_rows.append((po_id, total, expected))
    update_rows(PurchaseOrder, ["total_value", "expected_on"], header_rows)

    # Auto-approval: drafts worth less than the client's threshold.
    thresholds = {c: v for c, v in approve_below.items() if v and v > 0}
    if thresholds:
        approve = [
            po_id
            for po_id, client_id, total in _scoped(
                PurchaseOrder.objects.filter(status=DRAFT, client_id__in=list(thresholds)),
                client_ids,
            ).values_list("pk", "client_id", "total_value")
            if po_lines.get(po_id) and total < thresholds[client_id]
        ]
        if approve:
            counts.pos_auto_approved = PurchaseOrder.objects.filter(
                pk__in=approve, status=DRAFT
            ).update(status=APPROVED, approved_at=now, auto_approved=True)

    clock = counts.lap("write purchase orders", clock)
    update_rows(
        ReorderRule,
        [
            "planned_at",
            "projected",
            "daily_demand",
            "reorder_point",
            "order_up_to",
            "suggested_qty",
            "order_by",
            "days_of_cover",
            "explanation",
        ],
        rule_rows,
        batch_size=max(len(rule_rows), 1),
    )
    counts.rules_changed = len(rule_rows)
    counts.lap("write rules", clock)
    return counts
