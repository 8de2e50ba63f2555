"""Outbound PACT events: answers to RequestCreated, and PublishedEvent to subscribed partners.

Where an event goes is never taken from the request alone. A client's ``events_url`` (set by
the operator with ``client add --events-url``) is the base URL of its PACT API; events are
POSTed to ``<events_url>/3/events``. A RequestCreated event is accepted only when its
``source`` (an absolute URL, or the spec's scheme-less ``//host/path``) names that same host
and port: that is the spec's "MUST validate the value of source", and it keeps the server
from being used to POST to arbitrary addresses. Delivery retries with exponential backoff a
bounded number of times (the spec allows up to 3 days; a server restart ends the retries).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from ledger.errors import InputError
from ledger.serve import pact_api
from ledger.serve.clients import Client

log = logging.getLogger("carbon_ledger.serve")
RETRY_DELAYS = (0.5, 2.0, 8.0, 30.0, 120.0)


def _host_port(url: str, default_scheme: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"{default_scheme}:{url}")
    if not parts.hostname:
        raise InputError(f"event source {url!r} names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname.lower(), port


def callback_url(client: Client, source: str) -> str:
    """``<events_url>/3/events`` when ``source`` names the client's registered host."""
    if not client.events_url:
        raise InputError(
            f"client {client.client_id!r} has no registered events endpoint; the operator "
            "registers it with `client add --events-url`"
        )
    scheme = urlsplit(client.events_url).scheme
    if _host_port(source, scheme) != _host_port(client.events_url, scheme):
        raise InputError(
            f"event source {source!r} is not the events endpoint registered for this client"
        )
    return f"{client.events_url}/3/events"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_event(kind: str, source: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "time": now_rfc3339(),
        "data": dict(data),
    }


def answer_request(
    request: Mapping[str, Any], footprints: list[dict[str, Any]], source: str
) -> dict[str, Any]:
    """RequestFulfilled with the matching footprints, or RequestRejected (NotFound/BadRequest)."""
    data = request["data"]
    try:
        criteria = pact_api.criteria_from_event(data)
    except InputError as exc:
        error = {"code": "BadRequest", "message": str(exc)}
        return make_event(
            pact_api.EVENT_REJECTED, source, {"requestEventId": request["id"], "error": error}
        )
    if (
        not criteria.any_of
        and criteria.status is None
        and not (criteria.valid_on or criteria.valid_after or criteria.valid_before)
    ):
        error = {"code": "BadRequest", "message": "the request names no criteria"}
        return make_event(
            pact_api.EVENT_REJECTED, source, {"requestEventId": request["id"], "error": error}
        )
    found = [doc for doc in footprints if pact_api.matches(doc, criteria)]
    if not found:
        error = {"code": "NotFound", "message": "no product footprint matches the request"}
        return make_event(
            pact_api.EVENT_REJECTED, source, {"requestEventId": request["id"], "error": error}
        )
    return make_event(
        pact_api.EVENT_FULFILLED, source, {"requestEventId": request["id"], "pfs": found}
    )


async def deliver(
    http: httpx.AsyncClient, url: str, event: Mapping[str, Any], delays: tuple[float, ...]
) -> bool:
    """POST ``event`` to ``url``, retrying on failure after each of ``delays`` seconds."""
    headers = {"Content-Type": "application/cloudevents+json; charset=UTF-8"}
    for attempt, delay in enumerate((0.0, *delays)):
        if delay:
            await asyncio.sleep(delay)
        try:
            response = await http.post(url, json=event, headers=headers)
            if 200 <= response.status_code < 300:
                return True
            log.warning("event %s to %s: HTTP %s", event["type"], url, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("event %s to %s (attempt %d): %s", event["type"], url, attempt + 1, exc)
    return False


def published_ids(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Ids that are new, or whose status changed (newly Deprecated), between two snapshots."""
    return [pf_id for pf_id, status in after.items() if before.get(pf_id) != status]
