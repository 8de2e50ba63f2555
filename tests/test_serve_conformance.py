"""The official WBCSD PACT conformance tool against `carbon-ledger serve` over TLS.

The tool (``shared/pact-conformance-service``, unchanged) runs its V3.0 test run through its
own ``TestRunWorker``; ``tests/conformance/run-with-receiver.ts`` adds the tool's own
``EventHandler`` behind a loopback receiver so the two callback tests (13 RequestFulfilled,
14.B RequestRejected) are judged by the tool too instead of staying PENDING. The server is the
real CLI in a subprocess, with a self-signed certificate and a registered client whose events
endpoint is the receiver. Every mandatory test must pass: 0 failed, 0 pending.

Needs node and npm. CI prepares the tool once (``npm ci`` into a copy) and points
``PACT_CONFORMANCE_DIR`` at it; without that the test makes its own copy and runs ``npm ci``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ledger import demo

REPO = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "conformance" / "run-with-receiver.ts"

pytestmark = pytest.mark.conformance


def _tool_source() -> Path | None:
    for candidate in (REPO.parent / "shared", REPO.parent.parent / "shared"):
        if (candidate / "pact-conformance-service" / "package-lock.json").is_file():
            return candidate / "pact-conformance-service"
    return None


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the PACT conformance tool")
    prepared = os.environ.get("PACT_CONFORMANCE_DIR")
    if prepared and (Path(prepared) / "node_modules").is_dir():
        return Path(prepared)
    source = _tool_source()
    if source is None:
        pytest.skip("shared/pact-conformance-service is not beside this checkout")
    copy = tmp_path_factory.mktemp("pact") / "pact-conformance-service"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("node_modules"))
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # shared/ may be read-only
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=copy, check=True, capture_output=True
    )
    return copy


def test_official_conformance_tool_passes_every_mandatory_test(
    tool: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    tls_pair: tuple[Path, Path],
    free_port: Callable[[], int],
) -> None:
    world = demo.build(tmp_path / "demo")  # issues the 2025 PACT footprint of every product
    cert, key = tls_pair
    receiver_port, port = free_port(), free_port()
    clients = tmp_path / "clients.json"
    exe = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
    env = {**cli_env, "CARBON_LEDGER_DB": world.db_url}
    added = subprocess.run(
        [*exe, "--json", "client", "add", "conformance", "--clients", str(clients),
         "--events-url", f"http://127.0.0.1:{receiver_port}"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    secret = json.loads(added.stdout)["client_secret"]
    server = subprocess.Popen(
        [*exe, "serve", "--port", str(port), "--clients", str(clients),
         "--tls-cert", str(cert), "--tls-key", str(key)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/checkpoint", verify=False, timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        shutil.copy(DRIVER, tool / "src" / "scripts" / DRIVER.name)
        run = subprocess.run(
            ["npx", "ts-node", "-T", f"src/scripts/{DRIVER.name}", base, "conformance", secret],
            cwd=tool,
            env={
                **os.environ,
                "NODE_TLS_REJECT_UNAUTHORIZED": "0",  # the self-signed test certificate
                "CONFORMANCE_API": f"http://127.0.0.1:{receiver_port}",
                "RECEIVER_PORT": str(receiver_port),
                "NODE_ENV": "development",
                "PORT": "0",
                "DB_CONNECTION_STRING": "unused",
                "LOG_LEVEL": "warn",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    report = "\n".join(
        line
        for line in run.stdout.splitlines()
        if line.startswith(("RESULT", "MANDATORY", "CALLBACKS", "ALL"))
    )
    print(report)
    summary = re.search(
        r"MANDATORY total=(\d+) passed=(\d+) failed=(\d+) pending=(\d+)", run.stdout
    )
    assert summary is not None, run.stdout[-3000:] + run.stderr[-3000:]
    total, passed, failed, pending = map(int, summary.groups())
    assert (failed, pending) == (0, 0), report
    assert total == passed >= 39  # the V3.0 run has 39 mandatory tests
    assert "CALLBACKS received=2" in run.stdout
    assert run.returncode == 0
