"""django-q2 entry points: thin, idempotent, safe to retry."""

from fulfillment.models import PickWave
from fulfillment.pdf import PAPER_SIZES, pick_list_pdf


def render_pick_lists(wave_id: int) -> int:
    """Render a new wave's pick list on every paper size into the PDF store, so that the
    first click on "pick list" is instant. Returns the number of files (0: wave gone)."""
    wave = PickWave.objects.select_related("client", "warehouse", "created_by").filter(pk=wave_id)
    wave = wave.first()
    if wave is None:
        return 0
    for paper in PAPER_SIZES:
        pick_list_pdf(wave=wave, paper=paper)
    return len(PAPER_SIZES)
