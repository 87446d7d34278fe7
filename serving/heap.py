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
seconds. The next settle unfreezes first, so the objects of a replaced champion or
dataset are collected then, not kept for ever.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

_lock = threading.Lock()  # two loads finishing at once settle one after the other


def settle(reason: str) -> int:
    """Collect garbage, then freeze every object that survives; returns how many are
    frozen. ``reason`` (what was just loaded) goes to the log with the time it took."""
    with _lock:
        start = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        frozen = gc.get_freeze_count()
    log.info(
        "heap settled after %s: %d objects collected, %d frozen, %.0f ms",
        reason,
        collected,
        frozen,
        1000 * (time.perf_counter() - start),
    )
    return frozen
