"""OAuth2 client credentials for the PACT API: token issue, bearer checks, rate limits.

Tokens are opaque random strings kept in this process's memory (one process; a restart makes
partners ask again, which the client credentials flow does anyway). Token requests are
limited per remote address and per registered client id in a sliding minute, so neither a
guessing client nor a busy address can make the server run scrypt without bound. Expired
tokens and idle counters are pruned as new ones arrive, so memory stays bounded by the
request rate, not by the server's uptime.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass

SCOPES = frozenset({"footprint:list", "footprint:read", "events"})
_PRUNE_EVERY = 256


@dataclass(frozen=True)
class Token:
    client_id: str
    scopes: frozenset[str]
    expires: float


class Tokens:
    def __init__(self, ttl: int, requests_per_minute: int) -> None:
        self.ttl = ttl
        self.requests_per_minute = requests_per_minute
        self._tokens: dict[str, Token] = {}
        self._hits: dict[str, deque[float]] = {}
        self._calls = 0

    def allow(self, key: str) -> bool:
        """Count one token request for ``key``; False past the per-minute limit."""
        now = time.monotonic()
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            for stale in [k for k, h in self._hits.items() if not h or h[-1] < now - 60]:
                del self._hits[stale]
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] < now - 60:
            hits.popleft()
        hits.append(now)
        return len(hits) <= self.requests_per_minute

    def issue(self, client_id: str, scopes: frozenset[str]) -> str:
        now = time.time()
        if len(self._tokens) % _PRUNE_EVERY == 0:
            for old in [t for t, tok in self._tokens.items() if tok.expires < now]:
                del self._tokens[old]
        value = secrets.token_urlsafe(32)
        self._tokens[value] = Token(client_id, scopes, now + self.ttl)
        return value

    def check(self, authorization: str, scope: str) -> Token | tuple[int, str, str]:
        """The token of a ``Bearer`` header, or (HTTP status, PACT code, message)."""
        if not authorization.lower().startswith("bearer "):
            return 401, "BadRequest", "missing bearer token"
        value = authorization[7:].strip()
        token = self._tokens.get(value)
        if token is None:
            return 401, "BadRequest", "invalid access token"
        if token.expires < time.time():
            del self._tokens[value]
            return 401, "TokenExpired", "the access token has expired"
        if scope not in token.scopes:
            return 403, "AccessDenied", f"the access token lacks scope {scope}"
        return token
