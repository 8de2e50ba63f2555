"""PACT API clients: a JSON file of client ids with salted scrypt hashes of their secrets.

The secret is generated here (256 bits from :mod:`secrets`) and returned once; the file keeps
only ``scrypt(secret, salt)`` so a leaked file does not leak credentials. A client may have an
``events_url``: the base URL of its own PACT Action Events endpoint. It is the only place
the server will POST events for that client (RequestFulfilled/Rejected answers, and
PublishedEvent notifications, which makes a client with an ``events_url`` "subscribed"):
a RequestCreated event whose ``source`` names another host is refused, so the server can
never be made to POST to an address the operator did not register.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import ConflictError, InputError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# scrypt cost: ~16 MiB and ~30 ms per check; token requests are rate-limited on top
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class Client:
    client_id: str
    salt: bytes
    secret_hash: bytes
    events_url: str | None = None

    def check(self, secret: str) -> bool:
        return hmac.compare_digest(_hash(secret, self.salt), self.secret_hash)


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def check_events_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise InputError(f"events URL {url!r} must be an http(s) URL without query")
    return url.rstrip("/")


def load(path: Path) -> dict[str, Client]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            cid: Client(
                cid,
                base64.b64decode(entry["salt"]),
                base64.b64decode(entry["scrypt"]),
                entry.get("events_url"),
            )
            for cid, entry in raw["clients"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a carbon-ledger clients file: {exc}") from exc


def _dump(clients: dict[str, Client]) -> str:
    entries: dict[str, Any] = {}
    for cid, client in sorted(clients.items()):
        entry: dict[str, Any] = {
            "salt": base64.b64encode(client.salt).decode(),
            "scrypt": base64.b64encode(client.secret_hash).decode(),
            "n": _N,
            "r": _R,
            "p": _P,
        }
        if client.events_url:
            entry["events_url"] = client.events_url
        entries[cid] = entry
    return json.dumps({"format": "carbon-ledger-clients/v1", "clients": entries}, indent=2) + "\n"


def add_client(path: Path, client_id: str, events_url: str | None = None) -> str:
    """Register ``client_id`` in ``path`` (created 0600) and return its new secret, once."""
    if not _ID.match(client_id):
        raise InputError(
            f"client id {client_id!r} must be 1-64 letters, digits, '.', '_' or '-' "
            "(no ':', which Basic auth cannot carry)"
        )
    clients = load(path)
    if client_id in clients:
        raise ConflictError(f"client {client_id!r} already exists in {path}")
    secret = secrets.token_urlsafe(32)
    salt = os.urandom(16)
    url = check_events_url(events_url) if events_url else None
    clients[client_id] = Client(client_id, salt, _hash(secret, salt), url)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_dump(clients))
    os.replace(tmp, path)
    return secret
