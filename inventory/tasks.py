"""django-q2 entry points: thin, idempotent, safe to retry."""

from __future__ import annotations

from inventory.replenishment import replenishment_run


def run_replenishment(
    client_ids: list[int] | None = None, trigger: str = "schedule", user_id: int | None = None
) -> dict:
    """Plan every active reorder rule and update the draft POs.

    Idempotent: a retry (or an overlapping run) waits for the run lock, then rewrites the same
    drafts to the same quantities; the database refuses a second draft per supplier × warehouse.
    """
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    run = replenishment_run(client_ids=client_ids, trigger=trigger, user=user)
    return {
        "run": run.pk,
        "rules": run.rules_evaluated,
        "created": run.pos_created,
        "updated": run.pos_updated,
    }
