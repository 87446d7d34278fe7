"""serving.heap.settle: garbage collected once, survivors frozen, replaced ones released."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from serving import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _unfrozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    gc.unfreeze()
    monkeypatch.setattr(heap, "_frozen_after_full", 0)  # as in a fresh server
    yield
    gc.unfreeze()


def test_settle_collects_garbage_then_freezes_what_survives() -> None:
    garbage = weakref.ref(Node())  # unreachable at once, kept alive by its cycle
    kept = Node()
    frozen = heap.settle("a test")
    assert garbage() is None
    assert frozen > 1000 and gc.get_freeze_count() > 1000
    assert not any(o is kept for o in gc.get_objects())  # frozen: out of every generation


def test_a_frozen_cycle_is_released_once_the_frozen_count_has_grown_by_half() -> None:
    """A champion or dataset replaced after a settle is freed by a later one: not by the
    next (it looks only at what is not frozen, to keep the pause short) but by the first
    after the frozen objects have grown by half, which looks at everything."""
    old = Node()
    released = weakref.ref(old)
    first = heap.settle("the first load")
    del old  # only its own cycle keeps it alive now, and it is frozen
    heap.settle("a second load, nothing new")
    assert released() is not None
    grown = [[i] for i in range(int(first * heap.FULL_AFTER_GROWTH))]  # lists: tracked
    heap.settle("a load that grew the heap by half")
    assert released() is None
    assert gc.get_freeze_count() >= len(grown)
