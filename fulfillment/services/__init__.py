"""Fulfillment writes: pick waves, packing, shipments and carrier tracking events.

One module per job; import from here (``from fulfillment import services``), not from the
modules:

- ``waves``    — create pick waves and close finished ones;
- ``packing``  — confirm orders packed (one, or the chosen orders of a wave);
- ``shipping`` — hand an order's units to a carrier under a tracking number;
- ``tracking`` — ingest carrier tracking events (uploads, webhook, polling);
- ``carriers`` — carrier configuration writes (webhook secret rotation).

These services orchestrate; what happens to the order (its lines, the stock the shipment
consumes, its status) is decided by the orders services they call. Lock order, extending the
product-wide rule (inventory.services): **stock levels → shipments → orders**, each set in
primary-key order. Wave creation locks orders only; shipping locks stock levels then the
order (inside ``order_ship_lines``) and inserts the new shipment; event ingestion locks the
shipments it updates, then their orders.
"""

from fulfillment.services.carriers import MIN_SECRET_LENGTH, carrier_webhook_secret_rotate
from fulfillment.services.packing import PackResult, order_pack, wave_orders_pack
from fulfillment.services.shipping import shipment_create
from fulfillment.services.tracking import (
    COPY_THRESHOLD,
    INGEST_CHUNK,
    IngestReport,
    tracking_events_ingest,
)
from fulfillment.services.waves import (
    MAX_WAVE_SIZE,
    WavePlan,
    wave_create,
    wave_plan,
    waves_create_from_orders,
    waves_sync,
    waves_sync_visible,
)

__all__ = [
    "COPY_THRESHOLD",
    "INGEST_CHUNK",
    "MAX_WAVE_SIZE",
    "MIN_SECRET_LENGTH",
    "IngestReport",
    "PackResult",
    "WavePlan",
    "carrier_webhook_secret_rotate",
    "order_pack",
    "shipment_create",
    "tracking_events_ingest",
    "wave_create",
    "wave_orders_pack",
    "wave_plan",
    "waves_create_from_orders",
    "waves_sync",
    "waves_sync_visible",
]
