"""Search that finds what people type (issue #18): trigram indexes on PostgreSQL.

The queue's search (``orders.selectors.order_ids_matching``) compares customers'
``UPPER(name)``/``UPPER(email)`` with ``LIKE`` (Django's ``icontains``): migration 0004's GIN
trigram index ``customer_search_trgm_idx`` serves them; this one adds a trigram index on the
digits of the phone (``orders.selectors.phone_digits``: keep both in step). Order numbers are matched
whole or by their tail (``100104`` → ``ACME-100104``): a B-tree on the reversed, upper-cased
number turns both into a range scan (a trigram index was tried first: numbers share most of
their trigrams — the client prefix — and it read ~0.2 s per search at 1M orders). SQLite has no
trigram indexes: the same queries scan the tables there (fine at development sizes).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

PHONE_DIGITS = "phone"
for _ch in (" ", "-", "(", ")", "+", ".", "/"):
    PHONE_DIGITS = f"REPLACE({PHONE_DIGITS}, '{_ch}', '')"

INDEXES = {
    # A number typed whole, or its tail after the client's prefix or '#': an equality or a
    # prefix search on the reversed, upper-cased number (a B-tree range, whatever the prefix).
    "order_number_rev_idx": ("orders_order", "REVERSE(UPPER((number)::text)) text_pattern_ops"),
    "customer_phone_trgm_idx": ("orders_customer", f"({PHONE_DIGITS}) gin_trgm_ops"),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, expression) in INDEXES.items():
        method = "gin" if "gin_trgm_ops" in expression else "btree"
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING {method} ({expression})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class KeepTrigramExtension(TrigramExtension):
    """pg_trgm, kept when the migration is reversed (0004's index needs it too)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0009_unshipped_due_index"),
    ]

    operations = [
        KeepTrigramExtension(),
        migrations.RunPython(create, drop),
    ]
