"""Who is calling: API keys with a name and a role, and what each role may do.

``PARTNERCAST_API_KEYS`` points at a JSON file listing the callers, each with a name, a
role and the SHA-256 of its key (never the key itself)::

    [{"name": "ana", "role": "planner", "sha256": "9f86d08188..."}]

``partnercast api-key --name ana --role planner`` makes a new random key and prints the
entry to add. Roles: ``reader`` may call everything that only reads; writing or removing
overrides needs ``planner`` or ``admin``; ``POST /reload`` needs ``admin``. The single
``PARTNERCAST_API_KEY`` keeps working: its caller is ``api-key``, an admin. With neither
set the service is open (loopback only, unless ``--insecure``) and every caller is
``anonymous``, an admin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES: tuple[str, ...] = ("reader", "planner", "admin")
WRITERS = frozenset({"planner", "admin"})


@dataclass(frozen=True)
class Identity:
    """A caller: the name recorded with what it does, and its role."""

    name: str
    role: str


ANONYMOUS = Identity("anonymous", "admin")
SINGLE_KEY = Identity("api-key", "admin")


def key_hash(key: str) -> str:
    """The SHA-256 of a key, as stored in the keys file (keys are long random strings)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe)."""
    return "pc_" + secrets.token_urlsafe(32)


class KeyFileError(ValueError):
    """The keys file cannot be used; the message says what to fix."""


def load_keys(path: Path) -> dict[str, Identity]:
    """The keys file as ``sha256 -> Identity``; :class:`KeyFileError` when it is wrong."""
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the API keys file {path}: {exc}") from exc
    if not isinstance(entries, list):
        raise KeyFileError(f"{path} must hold a JSON list of {{name, role, sha256}} entries")
    keys: dict[str, Identity] = {}
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise KeyFileError(f"{path}: entry {i} is not an object")
        name, role, digest = entry.get("name"), entry.get("role"), entry.get("sha256")
        if not isinstance(name, str) or not name.strip():
            raise KeyFileError(f"{path}: entry {i} needs a name")
        if role not in ROLES:
            raise KeyFileError(f"{path}: entry {i} ({name}): role must be one of {ROLES}")
        if not isinstance(digest, str) or len(digest) != 64:
            raise KeyFileError(f"{path}: entry {i} ({name}): sha256 must be 64 hex digits")
        keys[digest.lower()] = Identity(name.strip(), role)
    return keys


def identify(token: str, keys: dict[str, Identity]) -> Identity | None:
    """The caller whose key is ``token`` (None: no such key). Every entry is compared in
    constant time, so the answer's timing says nothing about which digits matched."""
    digest = key_hash(token).encode()
    found = None
    for stored, identity in keys.items():
        if hmac.compare_digest(digest, stored.encode()):
            found = identity
    return found


def needed_role(method: str, path: str) -> frozenset[str] | None:
    """The roles allowed to make this request (None: any authenticated caller)."""
    if path == "/reload":
        return frozenset({"admin"})
    if path.startswith("/forecast/overrides") and method in ("POST", "DELETE", "PUT", "PATCH"):
        return WRITERS
    return None
