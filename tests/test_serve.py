"""`carbon-ledger serve` against a real SQLite ledger, over real loopback HTTP(S).

The ledger is the sample world built by `ledger.demo.build` (which also issues every product's
2025 PACT footprint); the server is uvicorn in a thread on an ephemeral loopback port; the
client is httpx. Nothing is mocked: tokens, paging, filters, events (with a receiver server),
PCF deprecation, the C2SP tiles and TLS are all exercised over the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger import demo, keys, note, records, transparency
from ledger.errors import InputError
from ledger.labels import export as label_export
from ledger.labels.offline import verify_label
from ledger.serve import clients as client_registry
from ledger.serve import tiles
from ledger.serve.app import ServeConfig, build_app
from ledger_cli.main import cli

WATER = "6923451000013"  # sample product of sup-bev (CN), UN CPC 24410
WINDOW = ("2025-01-01", "2026-01-01")


class Running:
    def __init__(self, server: uvicorn.Server, thread: threading.Thread, base: str) -> None:
        self.server, self.thread, self.base = server, thread, base

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(app: Any, *, tls: tuple[Path, Path] | None = None) -> Running:
    """uvicorn in a thread on a loopback socket bound to port 0 (no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    scheme = "https" if tls else "http"
    return Running(server, thread, f"{scheme}://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoResult:
    """The sample world with its 2025 PACT footprints issued (by the demo's label export)."""
    return demo.build(tmp_path_factory.mktemp("serve") / "demo")


class Receiver:
    """A partner's PACT events endpoint on loopback: records every POST /3/events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

        async def receive(request: Request) -> Response:
            self.events.append(json.loads(await request.body()))
            return Response(status_code=200)

        self.running = start_server(
            Starlette(routes=[Route("/3/events", receive, methods=["POST"])])
        )

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], seconds: float = 10
    ) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for event in self.events:
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no matching event among {[e['type'] for e in self.events]}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.running.stop()


@pytest.fixture(scope="module")
def partner(world: demo.DemoResult, receiver: Receiver) -> dict[str, str]:
    path = world.directory / "clients.json"
    secret = client_registry.add_client(path, "acme", receiver.running.base)
    other = client_registry.add_client(path, "quiet")  # no events endpoint
    return {"file": str(path), "id": "acme", "secret": secret, "quiet_secret": other}


@pytest.fixture(scope="module")
def server(world: demo.DemoResult, partner: dict[str, str]) -> Iterator[Running]:
    config = ServeConfig(
        engine=world.engine,
        clients=client_registry.load(Path(partner["file"])),
        base_url="https://ledger.test",
        poll_seconds=0.2,
        cache_seconds=0.0,  # the deprecation test reads right after issuing
        retry_delays=(0.1, 0.2),
        token_requests_per_minute=1000,
    )
    running = start_server(build_app(config))
    yield running
    running.stop()


def get_token(base: str, client_id: str, secret: str, **form: str) -> str:
    response = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def api(server: Running, partner: dict[str, str]) -> httpx.Client:
    token = get_token(server.base, partner["id"], partner["secret"])
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"})


# --- client add / serve command line -------------------------------------------------------


def test_client_add_prints_secret_once_and_stores_only_a_hash(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    result = CliRunner().invoke(cli, ["--json", "client", "add", "p1", "--clients", str(path)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["client_id"] == "p1" and len(shown["client_secret"]) >= 43
    stored = path.read_text()
    assert shown["client_secret"] not in stored
    assert path.stat().st_mode & 0o777 == 0o600
    client = client_registry.load(path)["p1"]
    assert client.check(shown["client_secret"]) and not client.check(shown["client_secret"] + "x")
    again = CliRunner().invoke(cli, ["client", "add", "p1", "--clients", str(path)])
    assert again.exit_code == 1
    assert "Error: client 'p1' already exists" in again.output


def test_client_id_with_colon_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["client", "add", "a:b", "--clients", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "Error: client id 'a:b' must be 1-64 letters" in result.output


def test_serve_refuses_non_loopback_without_allow_remote(tmp_path: Path) -> None:
    clients = tmp_path / "clients.json"
    client_registry.add_client(clients, "p1")
    result = CliRunner().invoke(
        cli,
        ["serve", "--host", "0.0.0.0", "--clients", str(clients)],
    )
    assert result.exit_code == 1
    assert "Error: refusing to bind 0.0.0.0, which is not a loopback address" in result.output


def test_serve_needs_a_clients_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--clients", str(tmp_path / "none.json")])
    assert result.exit_code == 1
    assert "no such clients file; register one with `carbon-ledger client add" in result.output


def test_serve_refuses_half_a_tls_pair(tmp_path: Path) -> None:
    clients = tmp_path / "clients.json"
    client_registry.add_client(clients, "p1")
    result = CliRunner().invoke(
        cli, ["serve", "--clients", str(clients), "--tls-cert", str(tmp_path / "c.pem")]
    )
    assert result.exit_code == 1
    assert "Error: --tls-cert and --tls-key go together" in result.output


def test_serve_command_serves(world: demo.DemoResult, tmp_path: Path) -> None:
    """The real console command: binds loopback, serves the checkpoint, shuts down cleanly
    on SIGTERM (uvicorn re-raises the signal afterwards, so the exit status is -15)."""
    clients = tmp_path / "clients.json"
    client_registry.add_client(clients, "p1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
    server = subprocess.Popen(
        [*command, "--db", world.db_url, "serve", "--port", str(port), "--clients", str(clients)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/checkpoint", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.text.startswith("carbon-ledger.example/qingliu-demo\n")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert server.stderr is not None
    assert "Application shutdown complete" in server.stderr.read()  # graceful, not killed


# --- OAuth2 client credentials ---------------------------------------------------------------


def test_token_by_basic_auth_and_by_form(server: Running, partner: dict[str, str]) -> None:
    by_basic = get_token(server.base, partner["id"], partner["secret"])
    by_form = httpx.post(
        f"{server.base}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": partner["id"],
            "client_secret": partner["secret"],
        },
    )
    assert by_form.status_code == 200
    assert by_form.json()["token_type"] == "bearer"
    assert by_form.json()["access_token"] != by_basic


def test_token_refusals_use_rfc6749_errors(server: Running, partner: dict[str, str]) -> None:
    wrong = httpx.post(
        f"{server.base}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner["id"], "not-the-secret"),
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client", "error_description": "Authentication failed"}
    grant = httpx.post(
        f"{server.base}/auth/token", data={"grant_type": "password"}, auth=(partner["id"], "x")
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_token_requests_are_rate_limited(world: demo.DemoResult, partner: dict[str, str]) -> None:
    config = ServeConfig(
        engine=world.engine,
        clients=client_registry.load(Path(partner["file"])),
        token_requests_per_minute=3,
    )
    running = start_server(build_app(config))
    try:
        codes = [
            httpx.post(
                f"{running.base}/auth/token",
                data={"grant_type": "client_credentials"},
                auth=(partner["id"], partner["secret"]),
            ).status_code
            for _ in range(5)
        ]
    finally:
        running.stop()
    assert codes == [200, 200, 200, 429, 429]


def test_expired_token(world: demo.DemoResult, partner: dict[str, str]) -> None:
    config = ServeConfig(
        engine=world.engine, clients=client_registry.load(Path(partner["file"])), token_ttl=0
    )
    running = start_server(build_app(config))
    try:
        token = get_token(running.base, partner["id"], partner["secret"])
        time.sleep(0.01)
        response = httpx.get(
            f"{running.base}/3/footprints", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        running.stop()
    assert response.status_code == 401
    assert response.json() == {"code": "TokenExpired", "message": "the access token has expired"}


# --- ListFootprints / GetFootprint ----------------------------------------------------------


def test_list_pages_with_absolute_link_headers(api: httpx.Client) -> None:
    everything = api.get("/3/footprints").json()["data"]
    assert len(everything) >= 5  # the demo issues one 2025 PCF per product with records
    seen: list[str] = []
    url: str | None = "/3/footprints?limit=2"
    pages = 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        batch = response.json()["data"]
        assert 1 <= len(batch) <= 2
        seen += [doc["id"] for doc in batch]
        link = response.headers.get("link")
        url = None
        if link:
            target, rel = link.split(";", 1)
            assert rel.strip() == 'rel="next"'
            url = target.strip()[1:-1]
            assert url.startswith(str(api.base_url).rstrip("/") + "/3/footprints?")  # absolute
        pages += 1
    assert seen == [doc["id"] for doc in everything]
    assert pages == (len(everything) + 1) // 2


def test_filters(api: httpx.Client) -> None:
    def ids(query: str) -> set[str]:
        response = api.get(f"/3/footprints?{query}")
        assert response.status_code == 200, response.text
        return {doc["id"] for doc in response.json()["data"]}

    everything = {doc["id"]: doc for doc in api.get("/3/footprints").json()["data"]}
    water = {i for i, d in everything.items() if d["productIds"] == [f"urn:gtin:{WATER}"]}
    assert len(water) >= 1
    assert ids(f"productId=URN:GTIN:{WATER}") == water  # case-insensitive
    assert ids(f"productId=urn:gtin:{WATER}&productId=urn:gtin:0") == water  # OR within a name
    bev = "urn:pact:carbon-ledger.example:supplier-id:sup-bev"
    assert ids(f"companyId={bev}") == {i for i, d in everything.items() if bev in d["companyIds"]}
    assert ids(f"companyId={bev}&productId=urn:bogus:x") == set()  # AND across names
    assert ids("geography=CN") == set(everything)  # every sample supplier is in CN
    assert ids("geography=XX") == set()
    cpc = "urn:pact:productclassification:un-cpc:24410"
    assert water <= ids(f"classification={cpc}")
    assert ids("classification=") == set(everything)  # empty value: no filter
    # validity: referencePeriodEnd 2026-01-01 to 2029-01-01 (no explicit validity period)
    assert ids("validOn=2027-06-01T00:00:00Z") == set(everything)
    assert ids("validOn=2025-06-01T00:00:00Z") == set()
    assert ids("validAfter=2025-12-31T00:00:00Z") == set(everything)
    assert ids("validBefore=2029-01-02T00:00:00Z") == set(everything)
    assert ids("validBefore=2029-01-01T00:00:00Z") == set()  # end must be strictly before
    assert ids("status=active") == {i for i, d in everything.items() if d["status"] == "Active"}
    assert ids("status=Bogus") == set()


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "offset=-1", "validOn=yesterday"])
def test_bad_parameters_are_bad_requests(api: httpx.Client, query: str) -> None:
    response = api.get(f"/3/footprints?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"


def test_get_footprint_and_error_formats(
    api: httpx.Client, server: Running, partner: dict[str, str]
) -> None:
    first = api.get("/3/footprints?limit=1").json()["data"][0]
    got = api.get(f"/3/footprints/{first['id']}")
    assert got.status_code == 200 and got.json() == {"data": first}
    missing = api.get("/3/footprints/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "NotFound",
        "message": "The specified footprint does not exist.",
    }
    assert api.get("/3/footprints/not-a-uuid").json()["code"] == "BadRequest"
    bad = httpx.get(f"{server.base}/3/footprints", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "BadRequest"
    assert httpx.get(f"{server.base}/3/footprints").status_code == 401
    list_only = get_token(server.base, partner["id"], partner["secret"], scope="footprint:list")
    denied = httpx.get(
        f"{server.base}/3/footprints/{first['id']}",
        headers={"Authorization": f"Bearer {list_only}"},
    )
    assert denied.status_code == 403
    assert denied.json() == {
        "code": "AccessDenied",
        "message": "the access token lacks scope footprint:read",
    }


def test_pact_objects_say_what_the_ledger_knows(api: httpx.Client, server: Running) -> None:
    doc = api.get(f"/3/footprints?productId=urn:gtin:{WATER}&status=Active").json()["data"][0]
    assert doc["pcf"]["geographyCountry"] == "CN"  # sup-bev's registered country
    assert doc["productClassifications"] == ["urn:pact:productclassification:un-cpc:24410"]
    assert doc["pcf"]["exemptedEmissionsPercent"] == "0"
    # the sample logistics records cover 98.83 % of the declared water output
    assert (
        "Records cover a share of the declared units other than 100 % in: warehousing 98.8"
        in (doc["pcf"]["exemptedEmissionsDescription"])
    )
    assert doc["pcf"]["secondaryEmissionFactorSources"]
    extension = doc["extensions"][0]
    assert extension["dataSchema"] == (
        "https://carbon-ledger.example/qingliu-demo/schemas/pact-extensions/"
        "carbon-ledger-stages/1.0.0/schema.json"
    )
    path = "/schemas/pact-extensions/carbon-ledger-stages/1.0.0/schema.json"
    schema = httpx.get(f"{server.base}{path}")
    assert schema.status_code == 200
    jsonschema.Draft202012Validator(schema.json()).validate(extension["data"])


# --- events --------------------------------------------------------------------------------


def _event(kind: str, source: str, data: dict[str, Any], event_id: str = "req-1") -> dict[str, Any]:
    return {
        "type": f"org.wbcsd.pact.ProductFootprint.{kind}.3",
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "time": "2026-01-01T00:00:00Z",
        "data": data,
    }


def test_request_created_is_answered_by_callback(api: httpx.Client, receiver: Receiver) -> None:
    source = receiver.running.base
    ok = api.post(
        "/3/events",
        json=_event("RequestCreatedEvent", source, {"productId": [f"urn:gtin:{WATER}"]}, "req-ok"),
    )
    assert ok.status_code == 200 and ok.content == b""
    fulfilled = receiver.wait_for(lambda e: e["data"].get("requestEventId") == "req-ok")
    assert fulfilled["type"] == "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
    assert fulfilled["source"] == "//ledger.test/3/events"
    assert {tuple(pf["productIds"]) for pf in fulfilled["data"]["pfs"]} == {(f"urn:gtin:{WATER}",)}
    api.post(
        "/3/events",
        json=_event("RequestCreatedEvent", source, {"productId": ["urn:pact:null"]}, "req-no"),
    )
    rejected = receiver.wait_for(lambda e: e["data"].get("requestEventId") == "req-no")
    assert rejected["type"] == "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
    assert rejected["data"]["error"]["code"] == "NotFound"


def test_request_from_an_unregistered_source_is_refused(api: httpx.Client) -> None:
    response = api.post(
        "/3/events",
        json=_event("RequestCreatedEvent", "https://evil.example", {"productId": ["urn:x:y"]}),
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "BadRequest",
        "message": "event source 'https://evil.example' is not the events endpoint registered "
        "for this client",
    }


def test_request_from_a_client_without_events_endpoint_is_refused(
    server: Running, partner: dict[str, str]
) -> None:
    token = get_token(server.base, "quiet", partner["quiet_secret"])
    response = httpx.post(
        f"{server.base}/3/events",
        json=_event("RequestCreatedEvent", "https://x.example", {"productId": ["urn:x:y"]}),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "client 'quiet' has no registered events endpoint; the operator registers it with "
        "`client add --events-url`"
    )


def test_malformed_events_are_refused(api: httpx.Client, server: Running) -> None:
    bad_ids = api.post("/3/events", json=_event("PublishedEvent", "//x", {"pfIds": ["urn:gtin:1"]}))
    assert bad_ids.status_code == 400
    assert bad_ids.json()["message"] == "data.pfIds must be a non-empty list of footprint UUIDs"
    good = _event("PublishedEvent", "//x", {"pfIds": ["3a6c14a7-4deb-498a-b5ea-16ce2535b576"]})
    assert api.post("/3/events", json=good).status_code == 200
    assert api.post("/3/events", content=b"{").json()["code"] == "BadRequest"
    unknown = api.post("/3/events", json=_event("Whatever", "//x", {}))
    assert unknown.status_code == 400
    no_token = httpx.post(f"{server.base}/3/events", json=good)
    assert no_token.status_code == 401


# --- PCF identity: unchanged keeps id and bytes, a change deprecates -------------------------


def test_changed_figure_deprecates_and_is_published(
    world: demo.DemoResult, api: httpx.Client, receiver: Receiver
) -> None:
    engine = world.engine
    options = label_export.LabelOptions()
    before = api.get(f"/3/footprints?productId=urn:gtin:{WATER}").json()["data"]
    assert [d["status"] for d in before] == ["Active"]
    old = before[0]
    stored_text = label_export.export_one(engine, WATER, *WINDOW, "pact", options)
    assert json.loads(stored_text)["id"] == old["id"]  # unchanged figure: same id ...
    assert label_export.export_one(engine, WATER, *WINDOW, "pact", options) == stored_text  # bytes
    supplier_key = keys.load_private(world.directory / "keys" / "sup-bev.key")
    records.append_record(
        engine,
        "sup-bev",
        supplier_key,
        {
            "product_id": WATER,
            "stage": "production",
            "activity": "electricity",
            "amount": "50000",
            "unit": "kWh",
            "factor_id": "cn-grid-electricity",
            "units_covered": "87519",
            "period_start": "2025-03-01",
            "period_end": "2025-04-01",
            "data_quality": "secondary",
        },
    )
    operator = keys.load_private(world.directory / "keys" / "operator.key")
    transparency.sign_checkpoint(engine, operator)
    # without the operator key the label still rests on the statement logged before: same PCF
    assert label_export.export_one(engine, WATER, *WINDOW, "pact", options) == stored_text
    # the operator logs a new statement (the record changed the figures): a new PCF
    new = json.loads(
        label_export.export_one(engine, WATER, *WINDOW, "pact", options, operator=operator)
    )
    assert new["id"] != old["id"]
    assert new["precedingPfIds"] == [old["id"]]
    assert new["pcf"]["pcfExcludingBiogenicUptake"] != old["pcf"]["pcfExcludingBiogenicUptake"]
    after = {
        d["id"]: d for d in api.get(f"/3/footprints?productId=urn:gtin:{WATER}").json()["data"]
    }
    assert after[old["id"]]["status"] == "Deprecated"
    assert after[new["id"]]["status"] == "Active"
    assert {k: v for k, v in after[old["id"]].items() if k != "status"} == {
        k: v for k, v in old.items() if k != "status"
    }
    published = receiver.wait_for(
        lambda e: e["type"].endswith("PublishedEvent.3") and new["id"] in e["data"]["pfIds"]
    )
    assert set(published["data"]["pfIds"]) == {old["id"], new["id"]}


# --- the log as C2SP tiles -------------------------------------------------------------------


def test_tile_paths() -> None:
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(5) == "005"
    assert tiles.parse_tile_path("1/x001/x234/067.p/7") == tiles.TileRef(1, 1234067, 7)
    assert tiles.parse_tile_path("entries/000") == tiles.TileRef(None, 0, 256)
    for bad in ("0/5", "0/x000/005", "01/000", "0/000.p/0", "0/000.p/256", "64/000"):
        with pytest.raises(InputError, match=r"bad|leading zero"):
            tiles.parse_tile_path(bad)


def _mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over leaf hashes, written here independently of ledger.merkle."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _path(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    while n >= 1000:
        n //= 1000
        groups.append(f"x{n % 1000:03d}")
    return "/".join(reversed(groups))


def test_tiles_rebuild_the_signed_root(world: demo.DemoResult, server: Running) -> None:
    """A tile client: fetch the checkpoint, the level-0 tiles and entry bundles, and the
    level-1 tiles; rebuild the root and check it against the signed checkpoint."""
    text = httpx.get(f"{server.base}/checkpoint").text
    operator = keys.load_public(world.directory / "keys" / "operator.key.pub")
    origin = text.split("\n", 1)[0]
    checkpoint = note.open_checkpoint(text, origin, operator)  # the signature checks out
    size = checkpoint.size
    leaves: list[bytes] = []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        suffix = "" if width == 256 else f".p/{width}"
        tile = httpx.get(f"{server.base}/tile/0/{_path(n)}{suffix}")
        assert (
            tile.status_code == 200 and tile.headers["content-type"] == "application/octet-stream"
        )
        assert len(tile.content) == 32 * width
        hashes = [tile.content[i : i + 32] for i in range(0, len(tile.content), 32)]
        bundle = httpx.get(f"{server.base}/tile/entries/{_path(n)}{suffix}").content
        entries, at = [], 0
        while at < len(bundle):
            (length,) = struct.unpack(">H", bundle[at : at + 2])
            entries.append(bundle[at + 2 : at + 2 + length])
            at += 2 + length
        assert [hashlib.sha256(b"\x00" + e).digest() for e in entries] == hashes
        leaves += hashes
    assert _mth(leaves) == checkpoint.root_hash
    full = size // 256
    if full:
        level1 = httpx.get(f"{server.base}/tile/1/000.p/{full}").content
        assert [level1[i : i + 32] for i in range(0, len(level1), 32)] == [
            _mth(leaves[i * 256 : (i + 1) * 256]) for i in range(full)
        ]
    beyond = httpx.get(f"{server.base}/tile/0/{_path(size // 256)}.p/{size % 256 + 1}")
    assert beyond.status_code == 404
    assert httpx.get(f"{server.base}/tile/0/5").status_code == 400


# --- labels for people ---------------------------------------------------------------------


def test_label_json_and_html(world: demo.DemoResult, server: Running) -> None:
    query = f"from={WINDOW[0]}&to={WINDOW[1]}"
    doc = httpx.get(f"{server.base}/labels/{WATER}.json?{query}")
    assert doc.status_code == 200
    operator = keys.load_public(world.directory / "keys" / "operator.key.pub")
    assert verify_label(doc.json(), operator).product_id == WATER
    page = httpx.get(f"{server.base}/labels/{WATER}?{query}")
    assert page.status_code == 200 and "<svg" in page.text
    assert httpx.get(f"{server.base}/labels/nope.json?{query}").status_code == 404
    config = httpx.get(f"{server.base}/verify/config.json").json()
    assert config["operator_public_key"] == keys.public_to_b64(operator)


# --- TLS -----------------------------------------------------------------------------------


def test_tls(world: demo.DemoResult, partner: dict[str, str], tls_pair: tuple[Path, Path]) -> None:
    cert, key = tls_pair
    config = ServeConfig(engine=world.engine, clients=client_registry.load(Path(partner["file"])))
    running = start_server(build_app(config), tls=(cert, key))
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        token = httpx.post(
            f"{running.base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner["id"], partner["secret"]),
            verify=trust,
        )
        assert token.status_code == 200
        listed = httpx.get(
            f"{running.base}/3/footprints",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            verify=trust,
        )
        assert listed.status_code == 200 and listed.json()["data"]
        with pytest.raises(httpx.TransportError):
            httpx.get(running.base.replace("https", "http") + "/checkpoint", timeout=3)
    finally:
        running.stop()


def test_basic_auth_header_encoding_is_checked(server: Running) -> None:
    response = httpx.post(
        f"{server.base}/auth/token",
        content=b"grant_type=client_credentials",
        headers={
            "Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
