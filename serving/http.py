"""What the service needs around BentoML's own request handling.

- :class:`ServiceState`: the settings, champions and forecast-ledger writer of this
  worker (every forecast answered is queued for the ledger, off the request path),
  shared by the BentoML service, the ASGI middleware and the mounted app (BentoML builds
  the middleware from options fixed when the class is defined, before the service
  object exists).
- :class:`ApiMiddleware`: bearer-token auth (one key, or named keys with roles:
  :mod:`serving.identity`; the caller's identity travels in the ASGI scope), role checks
  (403), and every 4xx/5xx body in the contract's
  ``{"error": ...}`` shape (BentoML answers validation errors with a generic ``error``
  and a ``detail`` list, Starlette with ``{"detail": ...}``, the readiness probe with
  plain text). ``/app`` passes straight through: the planner app (:mod:`serving.app`)
  signs people in with the same keys (:func:`caller_of`) and answers in HTML.
- :func:`extra_routes`: ``GET /model-info``, ``POST /reload`` and the overrides
  (``POST``/``GET /forecast/overrides``, ``DELETE /forecast/overrides/{id}``): BentoML's
  own API methods are POST-only and do not see the caller, so these live in a mounted
  Starlette app.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.names import FORECASTER_MODEL
from features.reporting import display_url
from serving import answers, heap
from serving.answers import ApiError
from serving.champions import Champion, Champions, Loaded, ModelUnavailable
from serving.identity import (
    ANONYMOUS,
    SINGLE_KEY,
    Identity,
    KeyFileError,
    identify,
    load_keys,
    needed_role,
)
from serving.ledger_writer import LedgerWriter, Provenance
from serving.overrides import OverrideDesk
from serving.schemas import AggregateResponse, ForecastResponse, OverrideRequest
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
DOCS_PATH = "/docs.json"
APP_PATH = "/app"  # the planner app (serving.app): pages, its own sign-in
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
UNAUTHORIZED = "missing or wrong API key: send the header 'Authorization: Bearer <key>'"
IDENTITY = "partnercast.identity"  # the caller's Identity, in the ASGI scope
SWITCH_SECONDS = 0.0005  # sys.setswitchinterval of the worker process (Python: 0.005)
THREADS = 2  # worker threads for answers that are not quick (the service's threads=)


class ServiceState:
    """This worker's settings, champions and ledger writer (set when the service starts)."""

    def __init__(self) -> None:
        self.settings: ServingSettings | None = None
        self.champions: Champions | None = None
        self.ledger: LedgerWriter | None = None
        self.overrides: OverrideDesk | None = None
        self.keys: dict[str, Identity] | None = None  # sha256 -> caller, from the keys file
        self._limiter: anyio.CapacityLimiter | None = None  # made on the event loop

    def start(self, settings: ServingSettings) -> None:
        """Load the champions (never train), then poll for new ones; start recording."""
        # a thread doing seconds of pandas work (a changed dataset read for /kpis, a new
        # champion's group totals) keeps the interpreter lock for up to the switch
        # interval each time another thread asks for it; at Python's default 5 ms every
        # quick answer waits that long several times per request, so one slow request
        # queued all the others behind it for seconds under load (p98 > 1 s)
        sys.setswitchinterval(SWITCH_SECONDS)
        if settings.api_keys is not None:
            try:
                self.keys = load_keys(settings.api_keys)
            except KeyFileError as exc:
                raise RuntimeError(f"PARTNERCAST_API_KEYS: {exc}") from exc
            log.info("%d API keys from %s", len(self.keys), settings.api_keys)
        self.overrides = OverrideDesk(
            settings.resolved_ledger_url, refresh_seconds=settings.overrides_refresh_seconds
        )
        self.settings = settings
        if settings.record_forecasts:
            self.ledger = LedgerWriter(
                settings.resolved_ledger_url, flush_seconds=settings.ledger_flush_seconds
            )
            log.info("recording forecasts in %s", display_url(settings.resolved_ledger_url))
        self.champions = Champions(settings, on_load=_warm_in_background)
        loaded = self.champions.refresh()
        if not loaded.ready:
            log.warning("not ready: %s", loaded.reason())
        self.champions.start_polling()

    def stop(self) -> None:
        """Stop polling and write the forecasts still waiting for the ledger."""
        if self.champions is not None:
            self.champions.stop()
        if self.ledger is not None:
            self.ledger.close()
        if self.overrides is not None:
            self.overrides.close()

    @property
    def loaded(self) -> Loaded:
        return self.champions.current if self.champions is not None else Loaded()

    @property
    def ready(self) -> bool:
        return self.loaded.ready

    def reason(self) -> str:
        if self.champions is None:
            return "the service is still starting"
        return self.loaded.reason()

    def answer(self, call: Callable[..., Any], request: Any) -> Any:
        """Run one endpoint's library call on the current snapshot; errors as JSON answers.

        BentoML sends a returned :class:`Response` as it is, so an error is returned, not
        raised (raised, BentoML would turn it into a 500 or a list-shaped body).
        """
        settings = self.settings or ServingSettings()
        loaded = self.loaded  # one snapshot for the answer and its ledger record
        try:
            answer = call(loaded, request, max_batch=settings.max_batch)
        except ApiError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        except ModelUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        self._record(loaded, answer)  # the model's own numbers
        if self.overrides is not None:
            answer = self.overrides.finalize(loaded, answer)
        return answer

    async def respond(self, call: Callable[..., Any], request: Any) -> Any:
        """:meth:`answer` on the event loop when it is quick (:func:`serving.answers.quick`:
        from memory, well under a millisecond), else in one of ``THREADS`` worker threads
        (a model run, a first sampling, a large batch must not hold the loop)."""
        if answers.quick(self.loaded, request):
            return self.answer(call, request)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(THREADS)
        return await anyio.to_thread.run_sync(
            functools.partial(self.answer, call, request), limiter=self._limiter
        )

    def _record(self, loaded: Loaded, answer: Any) -> None:
        """Queue forecast answers for the ledger; anything else, or any failure, is skipped."""
        if self.ledger is None or not isinstance(answer, ForecastResponse | AggregateResponse):
            return
        try:
            champion = loaded.get(FORECASTER_MODEL)
            made_by = Provenance(
                model_name=champion.name,
                model_version=champion.scorer.ledger_version(champion.version),
                run_id=champion.run_id,
                as_of=answer.as_of,
            )
            self.ledger.submit(answer, made_by)
        except Exception:  # recording must never cost an answer
            log.exception("could not queue an answer for the forecast ledger")


def _warm_in_background(champions: list[Champion]) -> None:
    """Warm new champions' answers (:func:`serving.answers.warm`) in a daemon thread, so a
    load or ``POST /reload`` is not held up by it."""

    def run() -> None:
        try:
            answers.warm(champions)
        except Exception:  # a request computes what it needs itself
            log.exception("warming the answers of the new champions failed")
        names = ", ".join(f"{c.name} v{c.version}" for c in champions)
        heap.settle(f"loading and warming {names}")

    threading.Thread(target=run, name="warm-answers", daemon=True).start()


# -- middleware --------------------------------------------------------------------
def _readable(detail: list[dict[str, Any]]) -> str:
    """Pydantic's error list as one line: ``field.path: message`` per problem."""
    parts = []
    for item in detail[:10]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body",))
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    more = f" (and {len(detail) - 10} more)" if len(detail) > 10 else ""
    return "invalid request: " + "; ".join(parts) + more


def error_body(status: int, raw: bytes, path: str, state: ServiceState) -> dict[str, Any]:
    """Whatever an error answer said, in the contract's shape."""
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace").strip()
    if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict):
        body = body[0]  # BentoML wraps a raised BentoMLException's body in a list
    if path == "/readyz":
        return {"error": f"not ready: {state.reason()}", "ready": False}
    if isinstance(body, dict):
        if isinstance(body.get("detail"), list):
            return {**body, "error": _readable(body["detail"])}
        if "error" in body:
            return body
        if isinstance(body.get("detail"), str):
            return {**body, "error": body["detail"]}
        return {**body, "error": f"request failed with HTTP {status}"}
    if status == 400 and not body:
        body = "the body is not valid JSON for this endpoint"
    return {"error": str(body) if body else f"request failed with HTTP {status}"}


def needs_key(state: ServiceState) -> bool:
    """Whether callers must show a key (one is configured, alone or in a keys file)."""
    settings = state.settings
    return (settings is not None and settings.api_key is not None) or state.keys is not None


def caller_of(state: ServiceState, token: str) -> Identity | None:
    """The caller whose key is ``token`` (None: no such key). Also the planner app's."""
    if state.keys is not None:
        found = identify(token, state.keys)
        if found is not None:
            return found
    key = state.settings.api_key if state.settings is not None else None
    if key is not None and hmac.compare_digest(token.encode(), key.get_secret_value().encode()):
        return SINGLE_KEY
    return None


class ApiMiddleware:
    """Auth for everything but health and metrics; one error shape for every answer."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServiceState,
        openapi: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.state = state
        self.openapi = openapi  # builds the document served at /docs.json (serving.openapi)
        self._document: bytes | None = None

    def _openapi_document(self) -> bytes:
        if self._document is None and self.openapi is not None:
            self._document = json.dumps(self.openapi()).encode()
        return self._document or b"{}"

    def _identify(self, scope: Scope) -> Identity | None:
        """The caller (None: a key is needed and the one sent is missing or wrong)."""
        if not needs_key(self.state) or scope["path"] in OPEN_PATHS:
            return ANONYMOUS
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return caller_of(self.state, token.strip())

    def _max_body(self) -> int:
        settings = self.state.settings
        return settings.max_body_bytes if settings is not None else 1_048_576

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._handle(scope, receive, tracked)
        except Exception:
            # whatever failed, the client gets an answer in the contract's shape (never a
            # hung connection, a stack trace or a path); the details go to the log
            log.exception("unhandled error answering %s %s", scope["method"], scope["path"])
            if not started:
                await JSONResponse(
                    {"error": "internal error: the service could not answer (see its log)"},
                    status_code=500,
                )(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.state.settings is None and scope["path"] not in OPEN_PATHS:
            await JSONResponse({"error": "the service is still starting"}, 503)(
                scope, receive, send
            )
            return
        if scope["path"] == APP_PATH or scope["path"].startswith(APP_PATH + "/"):
            await self.app(scope, receive, send)  # the planner app signs its users in itself
            return
        if self.openapi is not None and scope["path"] == DOCS_PATH:
            await Response(self._openapi_document(), media_type="application/json")(
                scope, receive, send
            )
            return
        who = self._identify(scope)
        if who is None:
            await JSONResponse(
                {"error": UNAUTHORIZED},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        allowed = needed_role(scope["method"], scope["path"])
        if allowed is not None and who.role not in allowed:
            await JSONResponse(
                {
                    "error": f"{who.name} ({who.role}) may not {scope['method']} "
                    f"{scope['path']}: it needs the role {' or '.join(sorted(allowed))}"
                },
                status_code=403,
            )(scope, receive, send)
            return
        scope[IDENTITY] = who
        if scope["method"] in BODY_METHODS:
            refused = _unsupported_media_type(scope) or await _read_body(
                scope, receive, self._max_body()
            )
            if isinstance(refused, JSONResponse):
                await refused(scope, receive, send)
                return
            receive = refused  # the buffered body, replayed to the app
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshape(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    await send(message)
                else:
                    start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = start["status"]
            body = error_body(status, b"".join(chunks), scope["path"], self.state)
            headers = [
                (k, v)
                for k, v in start.get("headers", [])
                if k.lower() not in (b"content-length", b"content-type")
            ]
            payload = json.dumps(body, default=str).encode()
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, reshape)


def _unsupported_media_type(scope: Scope) -> JSONResponse | None:
    """415 unless the body is declared JSON (or not declared: curl's bare ``-d`` is JSON
    more often than form data, and the parser then names what is wrong)."""
    headers = dict(scope.get("headers") or [])
    declared = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    if declared in ("", "application/json") or declared.endswith("+json"):
        return None
    return JSONResponse(
        {"error": f"the body must be JSON (Content-Type: application/json), got {declared!r}"},
        status_code=415,
    )


async def _read_body(scope: Scope, receive: Receive, limit: int) -> Receive | JSONResponse:
    """The whole body, read up to ``limit`` bytes (413 beyond), as a replaying ``receive``."""
    too_large = JSONResponse(
        {"error": f"the request body is over {limit:,} bytes (PARTNERCAST_MAX_BODY_BYTES)"},
        status_code=413,
    )
    headers = dict(scope.get("headers") or [])
    declared = headers.get(b"content-length", b"").decode("latin-1").strip()
    if declared.isdigit() and int(declared) > limit:
        return too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for the disconnect as usual
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# -- mounted routes ----------------------------------------------------------------
def _caller(request: Request) -> Identity:
    return request.scope.get(IDENTITY, ANONYMOUS)


def extra_routes(state: ServiceState) -> Starlette:
    """``GET /model-info``, ``POST /reload`` and the overrides (auth applies to all)."""
    from starlette.concurrency import run_in_threadpool

    async def model_info(request: Request) -> Response:
        return JSONResponse(answers.model_info(state.loaded).model_dump(mode="json"))

    async def reload(request: Request) -> Response:
        if state.champions is None or state.overrides is None:
            return JSONResponse({"error": "the service is still starting"}, 503)
        loaded = await run_in_threadpool(state.champions.refresh)
        info = answers.model_info(loaded)
        versions = {m.name: m.version for m in info.models}
        await run_in_threadpool(state.overrides.record, "reload", _caller(request), versions)
        return JSONResponse(info.model_dump(mode="json"))

    async def guarded(call: Callable[[], Any], status: int = 200) -> Response:
        """Run a blocking overrides call; ApiError and a down ledger as JSON errors."""
        if state.overrides is None:
            return JSONResponse({"error": "the service is still starting"}, 503)
        try:
            result = await run_in_threadpool(call)
        except ApiError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        except ModelUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        except sqlalchemy_errors() as exc:
            log.error("overrides: the ledger database failed: %s", exc)
            return JSONResponse(
                {"error": "the overrides database cannot be reached (see the service's log)"},
                status_code=503,
            )
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result.model_dump(mode="json"), status_code=status)

    async def add_override(request: Request) -> Response:
        try:
            body = OverrideRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": _readable(_errors(exc))}, status_code=400)
        desk = state.overrides
        return await guarded(lambda: desk.create(state.loaded, body, _caller(request)), status=201)

    async def list_overrides(request: Request) -> Response:
        params = request.query_params
        partner_id = params.get("partner_id")
        quarter = params.get("quarter_start")
        if partner_id is not None and not partner_id:
            return JSONResponse({"error": "partner_id must not be empty"}, 400)
        try:
            quarter_start = None if quarter is None else dt.date.fromisoformat(quarter)
        except ValueError:
            return JSONResponse(
                {"error": f"quarter_start must be a date as YYYY-MM-DD, got {quarter!r}"}, 400
            )
        desk = state.overrides
        return await guarded(lambda: desk.listing(partner_id, quarter_start))

    async def overrides(request: Request) -> Response:
        """One route for both methods, so a 405 lists both in ``Allow``."""
        if request.method == "POST":
            return await add_override(request)
        return await list_overrides(request)

    async def remove_override(request: Request) -> Response:
        override_id = request.path_params["override_id"]
        desk = state.overrides
        return await guarded(lambda: desk.remove(override_id, _caller(request)))

    return Starlette(
        routes=[
            Route("/model-info", model_info, methods=["GET"]),
            Route("/reload", reload, methods=["POST"]),
            Route("/forecast/overrides", overrides, methods=["GET", "POST"]),
            Route("/forecast/overrides/{override_id}", remove_override, methods=["DELETE"]),
        ]
    )


def sqlalchemy_errors() -> tuple[type[BaseException], ...]:
    import sqlalchemy as sa

    return (sa.exc.SQLAlchemyError,)


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors, with a body that is not JSON said so."""
    return [dict(e) for e in exc.errors(include_url=False, include_context=False)]
