"""Bounded loopback load test of `carbon-ledger serve` (not a pytest test).

Builds the sample world in a temporary directory (or uses --db), registers a client, starts
`carbon-ledger serve` on 127.0.0.1 with an ephemeral port, then runs N concurrent partner
clients (asyncio + httpx, one shared OAuth token as one partner system would) that alternate
ListFootprints and GetFootprint for a fixed time, and prints p50/p99 latency, requests/s and
errors. Traffic goes to loopback only; every loop is bounded by --duration and --max-requests.

    python bench/serve_load.py                   # 50 clients for 30 s
    python bench/serve_load.py --duration 2      # CI smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CLI = [sys.executable, "-c", "from ledger_cli.main import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def client_loop(
    http: httpx.AsyncClient,
    ids: list[str],
    stop: float,
    budget: list[int],
    out: list[float],
    errors: list[str],
) -> None:
    rng = random.Random()
    while time.monotonic() < stop and budget[0] > 0:
        budget[0] -= 1
        if rng.random() < 0.5:
            url = f"/3/footprints?limit={rng.choice((1, 2, 5, 100))}"
        else:
            url = f"/3/footprints/{rng.choice(ids)}"
        start = time.perf_counter()
        try:
            response = await http.get(url)
            if response.status_code != 200:
                errors.append(f"{url}: HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            errors.append(f"{url}: {exc!r}")
        out.append(time.perf_counter() - start)


async def load(base: str, token: str, clients: int, duration: float, max_requests: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        ids = [doc["id"] for doc in (await http.get("/3/footprints")).json()["data"]]
        latencies: list[float] = []
        errors: list[str] = []
        budget = [max_requests]
        began = time.monotonic()
        stop = began + duration
        await asyncio.gather(
            *(client_loop(http, ids, stop, budget, latencies, errors) for _ in range(clients))
        )
        elapsed = time.monotonic() - began
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"clients {clients}, {elapsed:.1f} s, {len(ids)} footprints served")
    print(
        f"requests {len(latencies)}, {len(latencies) / elapsed:.0f} requests/s, "
        f"errors {len(errors)}"
    )
    print(f"latency p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")
    for line in errors[:5]:
        print(f"  error: {line}")
    if errors:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="hard cap")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        from ledger import demo

        world = demo.build(work / "demo")  # also issues every product's 2025 PACT footprint
        env = {**os.environ, "CARBON_LEDGER_DB": world.db_url}
        clients = work / "clients.json"
        added = subprocess.run(
            [*CLI, "--json", "client", "add", "bench", "--clients", str(clients)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        secret = json.loads(added.stdout)["client_secret"]
        port = free_port()
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--clients", str(clients)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/checkpoint", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("serve did not start") from None
                    time.sleep(0.2)
            token = httpx.post(
                f"{base}/auth/token",
                data={"grant_type": "client_credentials"},
                auth=("bench", secret),
            ).json()["access_token"]
            asyncio.run(load(base, token, args.clients, args.duration, args.max_requests))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
