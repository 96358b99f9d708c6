"""``fewer_gc_passes``: raised collector thresholds inside, the defaults back afterwards, also
when nested or left by an exception; cycles made inside are still collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from core.gctune import fewer_gc_passes, settle


class _Node:
    pass


def test_thresholds_inside_and_restored_after_nesting_and_errors():
    before = gc.get_threshold()
    with fewer_gc_passes():
        inside = gc.get_threshold()
        assert inside[0] > before[0]
        with fewer_gc_passes():
            settle()
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside  # the outer use still runs
        with pytest.raises(RuntimeError), fewer_gc_passes():
            raise RuntimeError("boom")
        assert gc.get_threshold() == inside
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_inside_are_collected():
    with fewer_gc_passes():
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a reference cycle: only the collector frees it
        alive = weakref.ref(a)
        del a, b
    gc.collect()
    assert alive() is None
