"""The request timeout the service runs behind (serving.traffic): BentoML's behaviour,
without a live timer left behind per answered request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bentoml._internal.server.http import traffic as bentoml_traffic

from serving import traffic


async def _quick(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _slow(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(5)
    await _quick(scope, receive, send)


async def _broken(scope: Any, receive: Any, send: Any) -> None:
    raise ValueError("broken before answering")


async def _call(middleware: Any) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    await middleware({"type": "http", "method": "POST", "path": "/x", "headers": []},
                     receive, send)  # fmt: skip
    return sent


def _live_timers(loop: asyncio.AbstractEventLoop) -> int:
    return sum(not handle.cancelled() for handle in loop._scheduled)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("middleware", "left"), [(traffic._ORIGINAL, 10), (traffic.Timeout, 0)])
def test_answered_requests_leave_no_timer(middleware: type, left: int) -> None:
    """BentoML's own class leaves one 60 s timer per request (the leak measured under
    load); ours cancels each one when the answer starts."""

    async def run() -> tuple[int, list[list[dict]]]:
        app = middleware(_quick, timeout=60)
        answers = [await _call(app) for _ in range(10)]
        return _live_timers(asyncio.get_running_loop()), answers

    # asyncio's own loop, whatever policy an import set (uvloop keeps no ``_scheduled``)
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        live, answers = runner.run(run())
    assert live == left
    assert all(a[0]["status"] == 200 and a[1]["body"] == b"{}" for a in answers)


def test_a_slow_answer_still_times_out_with_bentomls_504() -> None:
    async def run() -> list[dict]:
        return await _call(traffic.Timeout(_slow, timeout=0.05))

    sent = asyncio.run(asyncio.wait_for(run(), timeout=2))
    assert sent[0]["status"] == 504
    assert b"Not able to process the request in 0.05 seconds" in sent[1]["body"]


def test_an_app_that_fails_before_answering_raises_at_once() -> None:
    """Not after the timeout (BentoML's waits for it): the server answers 500 at once."""

    async def run() -> None:
        await _call(traffic.Timeout(_broken, timeout=30))

    with pytest.raises(ValueError, match="broken before answering"):
        asyncio.run(asyncio.wait_for(run(), timeout=2))


def test_install_swaps_the_class_bentoml_builds_its_app_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bentoml_traffic, "TimeoutMiddleware", traffic._ORIGINAL)
    traffic.install()
    traffic.install()
    assert bentoml_traffic.TimeoutMiddleware is traffic.Timeout
    assert issubclass(traffic.Timeout, traffic._ORIGINAL)
