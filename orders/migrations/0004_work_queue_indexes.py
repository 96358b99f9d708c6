# Indexes for the agent's work queues and queue search at a million orders (bench/admin_pages.py,
# docs/benchmarks.md). Partial indexes on open orders, one per queue shape; an index giving the
# orders of a SKU without reading lines; and, on PostgreSQL only, a trigram index for the
# customer name / e-mail search (pg_trgm is a trusted extension: the database owner may
# create it; it stays installed when this migration is reversed).

from django.db import migrations, models

OPEN_ORDERS = models.Q(("status__in", ["cancelled", "delivered", "shipped"]), _negated=True)

CUSTOMER_TRGM_INDEX = "customer_search_trgm_idx"


def create_customer_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # The expressions are the ones the search sends: UPPER(name) LIKE UPPER('%…%') (icontains)
    # and UPPER(email) = UPPER(…) (iexact).
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {CUSTOMER_TRGM_INDEX} ON orders_customer USING gin "
        "((UPPER(name::text)) gin_trgm_ops, (UPPER(email::text)) gin_trgm_ops)"
    )


def drop_customer_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {CUSTOMER_TRGM_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0003_order_preemptable_idx"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=OPEN_ORDERS,
                fields=["client", "-priority_score", "id"],
                name="order_open_queue_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=OPEN_ORDERS,
                fields=["assigned_to", "client", "-priority_score", "id"],
                name="order_open_assignee_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=OPEN_ORDERS,
                fields=["client", "segment", "-priority_score", "id"],
                name="order_open_segment_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(OPEN_ORDERS, ("expedite", True)),
                fields=["client", "-priority_score", "id"],
                name="order_open_expedite_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=OPEN_ORDERS, fields=["client", "ship_by"], name="order_open_due_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="orderline",
            index=models.Index(fields=["product", "order"], name="line_product_order_idx"),
        ),
        migrations.RunPython(create_customer_trigram_index, drop_customer_trigram_index),
    ]
