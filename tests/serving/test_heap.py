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
def _unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_settle_collects_garbage_then_freezes_what_survives() -> None:
    garbage = weakref.ref(Node())  # unreachable at once, kept alive by its cycle
    kept = Node()
    frozen = heap.settle("a test")
    assert garbage() is None
    assert frozen > 1000 and gc.get_freeze_count() > 1000
    assert not any(o is kept for o in gc.get_objects())  # frozen: out of every generation


def test_the_next_settle_releases_what_the_last_one_froze() -> None:
    """A champion or dataset replaced after a settle is collected by the next one,
    not kept frozen for ever."""
    old = Node()
    released = weakref.ref(old)
    heap.settle("the first load")
    del old  # the cycle keeps it alive; frozen, no collection would look at it
    gc.collect()
    assert released() is not None
    heap.settle("the second load")
    assert released() is None
