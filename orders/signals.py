"""Signals the orders app sends so that higher apps (fulfillment, support …) can join in
without orders importing them (DESIGN.md: a lower app never imports a higher one)."""

from django.dispatch import Signal

# Sent while rendering an order's admin page, with ``order`` and ``request``; a receiver
# returns a panel dict ``{"id": str, "title": str, "template": str, "context": dict}`` (or
# None) that the page shows under the lines.
order_page_panels = Signal()

# Sent by ``seed_demo`` after the orders backlog exists, with ``rng`` (random.Random): higher
# apps add their demo data (carriers, waves, shipments …) on top of it.
demo_data_seeded = Signal()

# Sent by the order file import after each chunk of orders is committed, with ``job_id`` (or
# None) and ``orders_created`` (so far, this run): a hook for progress and for tests that stop
# a worker at a known point.
import_chunk_created = Signal()

# Sent after order status moves are written (inside the writing transaction), with
# ``changes``: a list of ``(order_id, from_status, to_status)``. One send per batch — an import
# of 5,000 orders or a carrier file of 20,000 deliveries sends a handful, not one per order.
# Receivers must stay cheap: collect the ids and enqueue work with transaction.on_commit.
order_status_changed = Signal()

# Sent after backordered lines were re-dated from open purchase orders
# (``backorders_expected_refresh``), with ``product_ids``: the products whose lines' expected
# dates changed. Customer delay notices listen to this (not to inventory's
# ``expected_supply_changed``), so they read the new dates, never the old ones.
expected_availability_changed = Signal()
