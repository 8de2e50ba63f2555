"""The /verify page in a real headless Chromium: WebCrypto checks a label from its QR URL.

Four labels, each at desktop (1280 px) and phone (390 px) width: the served label (valid), one
with a changed figure, one with a changed proof node (and a recomputed evidence digest, as a
forger would), and the valid label checked against the wrong operator key. The DOM after the
page's script ran is asserted; the screenshots are kept in the test's tmp dir (or in
$SERVE_SCREENSHOTS) for a person to look at.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ledger import demo, keys
from ledger.labels import export as label_export
from ledger.labels.offline import evidence_digest
from ledger.serve import clients as client_registry
from ledger.serve.app import ServeConfig, build_app

pytestmark = pytest.mark.browser
WATER = "6923451000013"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.skip("no chromium binary (install Debian's `chromium` package to run this test)")
    return found


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`serve` over the sample world, plus a loopback host serving forged label documents."""
    world = demo.build(tmp_path_factory.mktemp("verify") / "demo")
    clients = world.directory / "clients.json"
    client_registry.add_client(clients, "p")
    server, thread, base = _serve(
        build_app(ServeConfig(engine=world.engine, clients=client_registry.load(clients)))
    )
    label = json.loads(
        label_export.export_one(
            world.engine, WATER, "2025-01-01", "2026-01-01", "json", label_export.LabelOptions()
        )
    )
    figure = copy.deepcopy(label)
    figure["footprint"]["kgco2e_per_unit"] = "0.5"  # a greener number than the records give
    proof = copy.deepcopy(label)
    node = sorted(proof["evidence"]["nodes"])[0]
    digest = proof["evidence"]["nodes"][node]
    proof["evidence"]["nodes"][node] = ("0" if digest[0] != "0" else "1") + digest[1:]
    proof["evidence_sha256"] = evidence_digest(proof["evidence"])  # the forger recomputes it
    forged = {"figure": figure, "proof": proof}

    async def serve_forged(request: Request) -> JSONResponse:
        doc = forged[request.path_params["name"]]
        return JSONResponse(doc, headers={"Access-Control-Allow-Origin": "*"})

    f_server, f_thread, f_base = _serve(Starlette(routes=[Route("/{name}", serve_forged)]))
    yield {"base": base, "forged": f_base, "world": world}
    for srv, thr in ((server, thread), (f_server, f_thread)):
        srv.should_exit = True
        thr.join(timeout=10)


def _page(chromium: str, url: str, width: int, out: Path) -> str:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={out.parent / 'profile'}",
        f"--window-size={width},1600",
        "--virtual-time-budget=20000",
    ]
    shot = subprocess.run(
        [chromium, *flags, f"--screenshot={out}", url],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), shot.stderr[-2000:]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    return dom.stdout


CASES = {
    "valid": ("label", None, "\u2714 Verified in this browser", None),
    "figure": ("forged", "figure", "\u2718 NOT verified",
               'the label says footprint.kgco2e_per_unit is "0.5", but its evidence gives'),
    "proof": ("forged", "proof", "\u2718 NOT verified",
              "the evidence entries and proof nodes do not reproduce the signed checkpoint root"),
    "wrong-key": ("label", None, "\u2718 NOT verified",
                  "the ledger's operator key is not the operator key you trust"),
}  # fmt: skip


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("case", list(CASES))
def test_verify_page(
    chromium: str, site: dict[str, Any], case: str, width: int, tmp_path: Path
) -> None:
    where, name, verdict, reason = CASES[case]
    base = site["base"]
    if where == "label":
        label_url = f"{base}/labels/{WATER}.json?from=2025-01-01&to=2026-01-01"
    else:
        label_url = f"{site['forged']}/{name}"
    url = f"{base}/verify?label={quote(label_url, safe='')}"
    if case == "wrong-key":
        other = keys.load_public(site["world"].directory / "keys" / "sup-bev.key.pub")
        url += "&key=" + quote(keys.public_to_b64(other), safe="")
    shots = Path(os.environ.get("SERVE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    dom = _page(chromium, url, width, shots / f"verify-{case}-{width}.png")
    assert f'id="verdict">{verdict}<' in dom, dom[-3000:]
    if reason is None:
        assert "1.034 kg CO₂e per piece" in dom
        assert "from this server's configuration" in dom
        assert "tree size" in dom
    else:
        assert reason in dom
    if case == "wrong-key":
        assert "Trusted operator key: from the link you opened (?key=)." in dom
