"""The Starlette application behind ``carbon-ledger serve`` (SPEC §10).

It reads the same database as the CLI and never writes the ledger: suppliers keep writing
through the CLI, and PCF versions are issued by ``label export --format pact`` (see
:mod:`ledger.labels.publish`). Database reads run in the thread pool, so a slow query never
blocks the event loop that answers other partners.

Authentication is OAuth2 client credentials (RFC 6749 §4.4): clients from a file of salted
hashes (:mod:`ledger.serve.clients`), opaque bearer tokens kept in this process's memory
(one process; tokens do not survive a restart, partners simply ask again), token requests
rate-limited per client id and per remote address.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ledger.errors import InputError, LedgerError, NotFoundError
from ledger.labels import publish
from ledger.serve import events, pact_api, tiles
from ledger.serve.auth import SCOPES, Token, Tokens
from ledger.serve.clients import Client
from ledger.store import Engine

STATIC = Path(str(resources.files("ledger.serve") / "static"))
MAX_LIMIT = 1000
LABEL_CACHE = 256  # rendered labels kept (oldest dropped first)


@dataclass
class ServeConfig:
    engine: Engine
    clients: dict[str, Client]
    base_url: str | None = None
    token_ttl: int = 3600
    token_requests_per_minute: int = 30  # per client id, and per remote address
    default_limit: int = 100
    poll_seconds: float = 5.0
    cache_seconds: float = 1.0  # issued PCFs are re-read at most this often
    retry_delays: tuple[float, ...] = events.RETRY_DELAYS
    verify_tls: bool = True  # outbound events; tests with a self-signed receiver turn it off


@dataclass
class _State:
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    published: dict[str, str] = field(default_factory=dict)
    footprints: tuple[float, list[dict[str, Any]]] | None = None
    labels: dict[tuple[str, str, str, bool, str], tuple[int, str]] = field(default_factory=dict)
    http: httpx.AsyncClient | None = None


def pact_error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def oauth_error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)


def build_app(config: ServeConfig) -> Starlette:
    state = _State()
    tokens = Tokens(config.token_ttl, config.token_requests_per_minute)

    def public_base(request: Request) -> str:
        return (config.base_url or str(request.base_url)).rstrip("/")

    def spawn(coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    async def footprints() -> list[dict[str, Any]]:
        """Issued PCFs, re-read at most every ``cache_seconds``: a PCF never changes once
        issued (only its status, when a newer version appears), so a partner sees a new or
        deprecated one within that delay and the database is not read per request."""
        now = time.monotonic()
        if state.footprints is None or now - state.footprints[0] > config.cache_seconds:
            docs = await run_in_threadpool(pact_api.served_footprints, config.engine)
            state.footprints = (now, docs)
        return state.footprints[1]

    def authorize(request: Request, scope: str) -> Token | JSONResponse:
        checked = tokens.check(request.headers.get("authorization", ""), scope)
        if isinstance(checked, Token):
            return checked
        status, code, message = checked
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return pact_error(status, code, message, **headers)

    async def token(request: Request) -> Response:
        form = _form(await request.body())
        client_id = secret = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return oauth_error(400, "invalid_request", "malformed Basic authorization")
        elif isinstance(form.get("client_id"), str) and isinstance(form.get("client_secret"), str):
            client_id, secret = str(form["client_id"]), str(form["client_secret"])
        remote = request.client.host if request.client else "unknown"
        known = client_id in config.clients
        if not tokens.allow(f"ip:{remote}") or (known and not tokens.allow(f"client:{client_id}")):
            return oauth_error(429, "slow_down", "too many token requests", **{"Retry-After": "60"})
        if form.get("grant_type") != "client_credentials":
            return oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        if not client_id or secret is None:
            return oauth_error(
                401,
                "invalid_client",
                "client authentication required",
                **{"WWW-Authenticate": "Basic"},
            )
        client = config.clients.get(client_id)
        checked = client is not None and await run_in_threadpool(client.check, secret)
        if not checked:
            return oauth_error(
                401, "invalid_client", "Authentication failed", **{"WWW-Authenticate": "Basic"}
            )
        asked = str(form.get("scope") or "").split()
        if any(s not in SCOPES for s in asked):
            return oauth_error(400, "invalid_scope", f"known scopes: {' '.join(sorted(SCOPES))}")
        scopes = frozenset(asked) or SCOPES
        issued = tokens.issue(client_id, scopes)
        body = {
            "access_token": issued,
            "token_type": "bearer",
            "expires_in": config.token_ttl,
            "scope": " ".join(sorted(scopes)),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def list_footprints(request: Request) -> Response:
        auth = authorize(request, "footprint:list")
        if isinstance(auth, JSONResponse):
            return auth
        params = request.query_params
        try:
            criteria = pact_api.criteria_from({k: params.getlist(k) for k in params})
            limit = _int_param(params.get("limit"), "limit", config.default_limit, minimum=1)
            offset = _int_param(params.get("offset"), "offset", 0, minimum=0)
        except InputError as exc:
            return pact_error(400, "BadRequest", str(exc))
        docs = await footprints()
        found = [doc for doc in docs if pact_api.matches(doc, criteria)]
        page = found[offset : offset + min(limit, MAX_LIMIT)]
        headers = {}
        if offset + len(page) < len(found):
            items = [(k, v) for k, v in params.multi_items() if k not in ("limit", "offset")]
            items += [("limit", str(limit)), ("offset", str(offset + len(page)))]
            next_url = str(request.url.replace(query=urlencode(items)))
            headers["Link"] = f'<{next_url}>; rel="next"'
        return JSONResponse({"data": page}, headers=headers)

    async def get_footprint(request: Request) -> Response:
        auth = authorize(request, "footprint:read")
        if isinstance(auth, JSONResponse):
            return auth
        pf_id = request.path_params["pf_id"]
        if not pact_api.check_uuid(pf_id):
            return pact_error(400, "BadRequest", f"{pf_id!r} is not a footprint id (a UUID)")
        docs = await footprints()
        for doc in docs:
            if doc["id"] == pf_id.lower():
                return JSONResponse({"data": doc})
        return pact_error(404, "NotFound", "The specified footprint does not exist.")

    async def post_event(request: Request) -> Response:
        auth = authorize(request, "events")
        if isinstance(auth, JSONResponse):
            return auth
        try:
            body = pact_api.check_event(json.loads(await request.body()))
        except (ValueError, InputError) as exc:
            return pact_error(400, "BadRequest", str(exc))
        if body["type"] == pact_api.EVENT_CREATED:
            client = config.clients[auth.client_id]
            try:
                target = events.callback_url(client, body["source"])
            except InputError as exc:
                return pact_error(400, "BadRequest", str(exc))
            spawn(answer(body, target, public_base(request)))
        return Response(status_code=200)

    async def answer(request_event: dict[str, Any], target: str, base: str) -> None:
        docs = await footprints()
        event = events.answer_request(request_event, docs, _event_source(base))
        assert state.http is not None
        await events.deliver(state.http, target, event, config.retry_delays)

    async def announce_loop(base: str) -> None:
        while True:
            await asyncio.sleep(config.poll_seconds)
            try:
                docs = await run_in_threadpool(pact_api.served_footprints, config.engine)
            except LedgerError:
                continue
            now = {doc["id"]: doc["status"] for doc in docs}
            changed = events.published_ids(state.published, now)
            state.published = now
            if not changed:
                continue
            source = _event_source(base)
            for client in config.clients.values():
                if client.events_url:
                    event = events.make_event(pact_api.EVENT_PUBLISHED, source, {"pfIds": changed})
                    assert state.http is not None
                    spawn(
                        events.deliver(
                            state.http, f"{client.events_url}/3/events", event, config.retry_delays
                        )
                    )

    async def checkpoint(request: Request) -> Response:
        stored = await run_in_threadpool(_latest_checkpoint, config.engine)
        if stored is None:
            return PlainTextResponse("no checkpoint signed yet\n", status_code=404)
        return PlainTextResponse(stored.note, headers={"Cache-Control": "max-age=5"})

    async def tile(request: Request) -> Response:
        try:
            ref = tiles.parse_tile_path(request.path_params["path"])
            body = await run_in_threadpool(_read_tile, config.engine, ref)
        except InputError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        except NotFoundError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=404)
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    async def extension_schema(request: Request) -> Response:
        return FileResponse(
            STATIC / "carbon-ledger-stages-1.0.0.schema.json", media_type="application/schema+json"
        )

    async def label(request: Request) -> Response:
        name = request.path_params["name"]
        as_json = name.endswith(".json")
        product_id = name[: -len(".json")] if as_json else name
        try:
            start = request.query_params["from"]
            end = request.query_params["to"]
        except KeyError:
            return PlainTextResponse("give ?from=YYYY-MM-DD&to=YYYY-MM-DD\n", status_code=400)
        key = (product_id, start, end, as_json, public_base(request))
        try:
            size = await run_in_threadpool(_checkpoint_size, config.engine)
            cached = state.labels.get(key)
            if cached is not None and cached[0] == size:
                body = cached[1]
            else:  # a label is computed and self-verified once per checkpoint, not per scan
                body = await run_in_threadpool(_render_label, config.engine, *key)
                if len(state.labels) >= LABEL_CACHE:
                    del state.labels[next(iter(state.labels))]
                state.labels[key] = (size, body)
        except NotFoundError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=404)
        except LedgerError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        if as_json:
            return Response(
                body, media_type="application/json", headers={"Access-Control-Allow-Origin": "*"}
            )
        return Response(body, media_type="text/html; charset=utf-8")

    async def verify_page(request: Request) -> Response:
        return FileResponse(STATIC / "verify.html", media_type="text/html; charset=utf-8")

    async def verify_js(request: Request) -> Response:
        return FileResponse(STATIC / "verify.js", media_type="text/javascript; charset=utf-8")

    async def verify_config(request: Request) -> Response:
        info = await run_in_threadpool(_ledger_info, config.engine)
        return JSONResponse(info)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.http = httpx.AsyncClient(timeout=10.0, verify=config.verify_tls)
        try:
            docs = await run_in_threadpool(pact_api.served_footprints, config.engine)
            state.published = {doc["id"]: doc["status"] for doc in docs}
        except LedgerError:
            state.published = {}
        base = config.base_url
        if base is None:  # no request to take the host from: the log origin's host
            try:
                info = await run_in_threadpool(_ledger_info, config.engine)
                base = publish.default_public_base(info["origin"])
            except LedgerError:
                base = None
        loop = asyncio.get_running_loop()
        poller = loop.create_task(announce_loop(base or "https://localhost"))
        try:
            yield
        finally:
            poller.cancel()
            for task in list(state.tasks):
                task.cancel()
            await state.http.aclose()

    routes = [
        Route("/auth/token", token, methods=["POST"]),
        Route("/3/footprints", list_footprints, methods=["GET"]),
        Route("/3/footprints/{pf_id}", get_footprint, methods=["GET"]),
        Route("/3/events", post_event, methods=["POST"]),
        Route("/checkpoint", checkpoint, methods=["GET"]),
        Route("/tile/{path:path}", tile, methods=["GET"]),
        Route(publish.EXTENSION_SCHEMA_PATH, extension_schema, methods=["GET"]),
        Route("/labels/{name}", label, methods=["GET"]),
        Route("/verify", verify_page, methods=["GET"]),
        Route("/verify/verify.js", verify_js, methods=["GET"]),
        Route("/verify/config.json", verify_config, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the OAuth2 token request), last value
    of each name; parsed here because Starlette's form parser needs python-multipart."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return dict(pairs)


def _event_source(base: str) -> str:
    """``//host/3/events``: the spec's scheme-less form of the sending endpoint."""
    return "//" + base.split("://", 1)[-1].rstrip("/") + "/3/events"


def _int_param(raw: str | None, name: str, default: int, *, minimum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {raw!r}")
    return int(raw)


def _latest_checkpoint(engine: Engine) -> Any:
    from ledger import proofs
    from ledger.store import db

    with db.reading(engine) as conn:
        return proofs.latest_checkpoint(conn)


def _checkpoint_size(engine: Engine) -> int:
    stored = _latest_checkpoint(engine)
    return 0 if stored is None else int(stored.tree_size)


def _read_tile(engine: Engine, ref: tiles.TileRef) -> bytes:
    from ledger import proofs
    from ledger.store import db

    with db.reading(engine) as conn:
        stored = proofs.latest_checkpoint(conn)
        return tiles.read_tile(conn, ref, 0 if stored is None else stored.tree_size)


def _render_label(
    engine: Engine, product_id: str, start: str, end: str, as_json: bool, base: str
) -> str:
    from ledger.labels import export

    options = export.LabelOptions(qr_url=export.default_qr_template(base))
    return export.export_one(engine, product_id, start, end, "json" if as_json else "html", options)


def _ledger_info(engine: Engine) -> dict[str, Any]:
    from ledger import keys, note, registry
    from ledger.store import db

    with db.reading(engine) as conn:
        info = registry.ledger_info(conn)
    return {
        "origin": info.origin,
        "operator_public_key": keys.public_to_b64(info.operator_public_key),
        "operator_key_id": info.operator_key_id,
        "operator_verifier_key": note.verifier_key(info.origin, info.operator_public_key),
        "trust": "served by the operator of this ledger",
    }
