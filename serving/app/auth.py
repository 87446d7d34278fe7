"""Signing in to the app: an API key typed once, kept for the browser session.

The browser never keeps the key: signing in checks it like the API does
(:func:`serving.http.caller_of`) and hands back a random session id in a cookie that
lives as long as the browser session (no expiry date), is sent only to ``/app`` and
only from the app's own pages (``HttpOnly``, ``SameSite=Strict``). The key stays on the
server, in memory, and is checked again on every request, so a key taken out of the
keys file stops working at the next page. A restart of the service signs everyone out.

Writes from the pages (an override) also need the ``HX-Request`` header that htmx sends:
another site's form cannot set it, so a forged cross-site post is refused even by a
browser that ignores ``SameSite``.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from serving.http import ServiceState, caller_of, needs_key
from serving.identity import ANONYMOUS, Identity

COOKIE = "partnercast_app"
MAX_SESSIONS = 10_000  # the oldest sign-ins are forgotten beyond this


class SessionBook:
    """Session id -> the key it signed in with (in memory, for this worker)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        """No key is configured: everyone is ``anonymous``, an admin, as in the API."""
        return not needs_key(self.state)

    def sign_in(self, key: str) -> tuple[str, Identity] | None:
        """A new session for ``key`` (None: no caller has that key)."""
        who = caller_of(self.state, key.strip()) if key.strip() else None
        if who is None:
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._keys[session] = key.strip()
            while len(self._keys) > MAX_SESSIONS:
                self._keys.popitem(last=False)
        return session, who

    def caller(self, session: str | None) -> Identity | None:
        """Who holds this session (None: signed out, unknown or revoked key)."""
        if self.open:
            return ANONYMOUS
        if not session:
            return None
        with self._lock:
            key = self._keys.get(session)
        return None if key is None else caller_of(self.state, key)

    def sign_out(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._keys.pop(session, None)
