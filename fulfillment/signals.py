"""Signals the fulfillment app sends so that higher apps (support: customer notifications)
can join in without fulfillment importing them (DESIGN.md: a lower app never imports a higher
one). Receivers stay cheap: collect ids and enqueue work with ``transaction.on_commit``."""

from django.dispatch import Signal

# Sent inside the transaction that created a shipment, with ``shipment_id`` and ``order_id``.
shipment_created = Signal()

# Sent once per ingested chunk of carrier events (webhook, status file), inside its
# transaction, with ``events``: a list of ``(tracking_event_id, shipment_id, order_id, status)``
# for the events that were new. A carrier file of 20,000 rows sends a few, not 20,000.
tracking_events_recorded = Signal()
