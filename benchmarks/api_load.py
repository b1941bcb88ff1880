"""Admin API load (a script, not a test): ``.venv/bin/python benchmarks/api_load.py``.

Starts the daemon as a child process on 127.0.0.1 (fresh data directory, replay market
data, paper broker), waits for its start-up jobs, then sends a fixed-rate open-loop mix of
read requests with an aiohttp client (``--rate`` req/s for ``--seconds``, at most
``--max-requests``) while the planner is re-triggered every ``--plan-every`` seconds
through ``POST /api/planner/regenerate``. Prints one JSON line:
``{requests, requests_per_s, p50_ms, p99_ms, max_ms, errors, planner_runs, ...}``.
An error is a transport failure, a timeout or any status ≥ 500.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
# Reads an operator's browser or script makes; each is served from the store or an actor.
PATHS = ("/health", "/api/system/status", "/api/system/jobs", "/api/portfolio",
         "/api/portfolio/summary", "/api/trades/recommendations", "/api/planner/status",
         "/api/securities", "/api/settings", "/api/trades/orders", "/api/cash-flows",
         "/api/satellites/buckets", "/api/allocation/current", "/metrics")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/api/system/jobs", timeout=5) as resp:
                jobs = json.loads(resp.read())["jobs"]
            if not any(j["status"] == "running" for j in jobs) and any(j["runs"] for j in jobs):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"daemon not ready after {timeout} s")


async def _drive(base: str, token: str, rate: float, seconds: float, max_requests: int,
                 plan_every: float) -> dict[str, object]:
    latencies: list[float] = []
    by_path: dict[str, list[float]] = {}
    errors = 0
    planner_runs = 0
    total = min(max_requests, int(rate * seconds))
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(base, timeout=timeout, connector=connector) as session:

        async def one(path: str) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                async with session.get(path) as resp:
                    await resp.read()
                    if resp.status >= 500:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            took = (time.perf_counter() - started) * 1000
            latencies.append(took)
            by_path.setdefault(path, []).append(took)

        async def planner() -> None:
            nonlocal planner_runs
            headers = {"Authorization": f"Bearer {token}"}
            while True:
                async with session.post("/api/planner/regenerate", headers=headers) as resp:
                    await resp.read()
                    if resp.status == 202:
                        planner_runs += 1
                await asyncio.sleep(plan_every)

        plan_task = asyncio.create_task(planner())
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(PATHS[i % len(PATHS)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        plan_task.cancel()
    ordered = sorted(latencies)
    return {
        "requests": len(latencies), "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "target_rate": rate,
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(_p99(ordered), 2),
        "max_ms": round(ordered[-1], 2),
        "errors": errors, "planner_runs": planner_runs,
        "slowest_paths_p99_ms": dict(sorted(
            ((p, round(_p99(sorted(v)), 1)) for p, v in by_path.items()),
            key=lambda kv: -kv[1])[:3]),
    }


def _p99(ordered: list[float]) -> float:
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def main() -> int:
    """Run the load against a fresh daemon and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--plan-every", type=float, default=5.0)
    args = parser.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        env = {**os.environ, "ARDUINO_TRADER_API__PORT": str(port)}
        env.pop("ARDUINO_TRADER_CONFIG", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "arduino_trader", "run", "--data-dir", str(state)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(base, 120)
            token = (state / "api-token").read_text().strip()
            result = asyncio.run(_drive(base, token, args.rate, args.seconds,
                                        args.max_requests, args.plan_every))
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
