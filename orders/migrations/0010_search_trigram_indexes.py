"""Search that finds what people type (issue #18): trigram indexes on PostgreSQL.

The queue's search (``orders.selectors.order_ids_matching``) compares ``UPPER(column)`` with
``LIKE``/``=`` (Django's ``icontains``/``iendswith``/``iexact``): these GIN ``gin_trgm_ops``
indexes on exactly those expressions serve them at a million orders. The phone index is on
the digits of the phone (``orders.selectors.phone_digits``: keep both in step). SQLite has no
trigram indexes: the same queries scan the tables there (fine at development sizes).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

PHONE_DIGITS = "phone"
for _ch in (" ", "-", "(", ")", "+", ".", "/"):
    PHONE_DIGITS = f"REPLACE({PHONE_DIGITS}, '{_ch}', '')"

INDEXES = {
    "order_number_trgm_idx": ("orders_order", "UPPER((number)::text) gin_trgm_ops"),
    "customer_name_trgm_idx": ("orders_customer", "UPPER((name)::text) gin_trgm_ops"),
    "customer_email_trgm_idx": ("orders_customer", "UPPER((email)::text) gin_trgm_ops"),
    "customer_phone_trgm_idx": ("orders_customer", f"({PHONE_DIGITS}) gin_trgm_ops"),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, expression) in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0009_unshipped_due_index"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create, drop),
    ]
