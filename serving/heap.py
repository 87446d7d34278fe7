"""Keep Python's cyclic garbage collector off the request path.

Under load the service allocates many short-lived objects (answers, request bodies),
and every so often one of those allocations triggers a full (generation 2) collection,
which walks every object the process holds: the champions' models and tables, the KPI
dataset's frames, the remembered answers. Measured with ``make load`` on the demo
world: a full collection every 5-6 s, 450-790 ms each with the interpreter lock held
and nothing to collect - every request in flight waited for it (the single-partner p99
of 390 ms and more was these pauses, not the answers).

:func:`settle` is called once the long-lived objects are in place (a champion loaded and
warmed, a dataset read): it collects what is garbage now and then freezes everything
that survives (:func:`gc.freeze`), so later collections walk only what is younger. The
one full collection is paid at a load, which happens a few times a day, not every few
seconds. A settle collects only what is not frozen (the new load's leftovers), which costs
in proportion to them. Objects of a replaced champion or dataset that are frozen are
freed when nothing refers to them; those kept alive only by reference cycles would stay
frozen for ever, so once the frozen count has grown by half since the last full
collection, a settle unfreezes everything first and collects it all (one pause of a few
hundred milliseconds, then the count is the live objects again).
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

FULL_AFTER_GROWTH = 1.5  # frozen count over the last full collection's: collect it all

_lock = threading.Lock()  # two loads finishing at once settle one after the other
_frozen_after_full = 0  # objects frozen right after the last full collection


def settle(reason: str) -> int:
    """Collect garbage, then freeze every object that survives; returns how many are
    frozen. ``reason`` (what was just loaded) goes to the log with the time it took."""
    global _frozen_after_full
    with _lock:
        start = time.perf_counter()
        collected = gc.collect()  # what is not frozen: the new load and its leftovers
        gc.freeze()
        full = gc.get_freeze_count() >= FULL_AFTER_GROWTH * _frozen_after_full
        if full:
            gc.unfreeze()
            collected += gc.collect()
            gc.freeze()
            _frozen_after_full = gc.get_freeze_count()
        frozen = gc.get_freeze_count()
    log.info(
        "heap settled after %s: %d objects collected%s, %d frozen, %.0f ms",
        reason,
        collected,
        " (all of them looked at)" if full else "",
        frozen,
        1000 * (time.perf_counter() - start),
    )
    return frozen
