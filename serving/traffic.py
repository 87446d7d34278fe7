"""BentoML's request timeout, with its timer cancelled when the answer is done.

BentoML 1.4's ``TimeoutMiddleware`` (``traffic={"timeout": ...}``) schedules one timer
per request with ``loop.call_later(timeout, ...)`` and never cancels it: every request,
answered in 2 ms or not, leaves a timer alive for the whole timeout (60 s here) holding
its waiter and a copy of the request's context (with its tracing span), about 40
objects. At 230 requests/s that is half a million live objects, and every full garbage
collection walked them all: 300-800 ms pauses every few seconds under ``make load``.

:func:`install` replaces the class BentoML builds its app with by :class:`Timeout`: the
same behaviour (a 504 with BentoML's body when the answer has not started in time), and
the timer cancelled as soon as the answer has started or failed, which releases those
objects at once. One difference: an app that fails before it answers has its error
raised at once (uvicorn answers 500), where BentoML's waited for the whole timeout. It
must run before BentoML builds the app (``serving.service`` calls it at import); it
checks that it patches the class it was written against.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse

_ORIGINAL = traffic.TimeoutMiddleware


class Timeout(_ORIGINAL):  # type: ignore[misc, valid-type]
    """BentoML's ``TimeoutMiddleware`` whose timer dies with its request."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        answer = asyncio.ensure_future(self.app(scope, receive, _send))
        answer.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        except TimeoutError:
            if answer.cancel():
                body = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await JSONResponse(body, status_code=504)(scope, receive, send)
            return
        finally:
            timer.cancel()
        await answer  # started in time: wait for the rest of it (and its errors)


def install() -> None:
    """Make BentoML build its app with :class:`Timeout` (idempotent)."""
    if traffic.TimeoutMiddleware is not Timeout:
        if not hasattr(_ORIGINAL, "_set_timer_out"):  # a BentoML this was not written for
            raise RuntimeError("bentoml's TimeoutMiddleware changed: review serving/traffic.py")
        traffic.TimeoutMiddleware = Timeout
