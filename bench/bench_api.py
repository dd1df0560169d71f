"""The HTTP API under concurrent clients, against the fake model at a fixed latency.

    python bench/bench_api.py [--clients 50] [--duration 60] [--latency 0.2,1.0] [--workers 1,2]

Starts a fake Ollama (each call waits ``--latency`` s before answering; a list runs each) and ``askdb serve`` in
their own processes over a small demo database, measures one request alone, then keeps
``--clients`` clients asking for ``--duration`` s. It prints throughput, errors and latency
percentiles, and whether p95 stays within 1.5x the single request's latency, for each
``--workers`` count in turn, and the CPU each request cost the server, the fake and the clients
(all three share this machine's cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

QUESTIONS = [
    "各平台的达人数量",
    "各平台达人的平均粉丝数",
    "各城市的达人数量",
    "各品牌的投放计划数量",
    "各状态的投放计划数量",
    "各渠道类型的素材数量",
]
FAKE = """
import sys, time
from askdb.testing import FakeOllamaServer, FakeReply
SQL = {"达人数量": "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform",
       "平均粉丝": "SELECT platform, AVG(fans) AS fans FROM ads_account GROUP BY platform",
       "城市": "SELECT city, COUNT(*) AS n FROM ads_account GROUP BY city",
       "品牌": "SELECT brand, COUNT(*) AS n FROM ads_campaign GROUP BY brand",
       "状态": "SELECT status, COUNT(*) AS n FROM ads_campaign GROUP BY status",
       "渠道": "SELECT media_type, COUNT(*) AS n FROM ads_material GROUP BY media_type"}
latency = float(sys.argv[2])
def reply(messages):
    text = messages[-1]["content"]
    if any("数据分析师" in m["content"] for m in messages):
        return FakeReply("- 第一行最大", delay=latency)
    question = text.rsplit("问题", 1)[-1]
    sql = next((s for k, s in SQL.items() if k in question), SQL["达人数量"])
    return FakeReply(sql, delay=latency)
with FakeOllamaServer(reply) as server:
    open(sys.argv[1], "w").write(server.url)
    while True:
        time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.1)
    raise RuntimeError(f"nothing wrote {path}")


FAILURES: list[str] = []  # what the first failed requests got back


async def one(client: httpx.AsyncClient, question: str) -> tuple[float, int]:
    """Latency and status of one question; a broken connection counts as an error (status 0)."""
    started = time.perf_counter()
    try:
        response = await client.post("/v1/ask", json={"question": question, "trace": False})
    except httpx.HTTPError as exc:
        if len(FAILURES) < 5:
            FAILURES.append(f"{question}: {type(exc).__name__}: {exc}")
        return time.perf_counter() - started, 0
    if response.status_code != 200 and len(FAILURES) < 5:
        FAILURES.append(f"{question}: {response.status_code} {response.text[:300]}")
    return time.perf_counter() - started, response.status_code


async def load(base: str, clients: int, duration: float) -> tuple[list[float], list[int]]:
    latencies, statuses = [], []
    stop = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def worker(n: int) -> None:
            i = n
            while time.perf_counter() < stop:
                elapsed, status = await one(client, QUESTIONS[i % len(QUESTIONS)])
                latencies.append(elapsed)
                statuses.append(status)
                i += 1

        await asyncio.gather(*(worker(n) for n in range(clients)))
    return latencies, statuses


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def serve(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("w") as err:  # the child keeps its own handle
        server = subprocess.Popen(
            [sys.executable, "-m", "askdb", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    ready: set[int] = set()
    deadline = time.time() + 180
    while time.time() < deadline and len(ready) < workers:
        try:
            body = httpx.get(base + "/healthz", timeout=5).json()
            if body["assistant"] == "ready":
                ready.add(body.get("pid", 0))
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return server, base


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (from /proc)."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(env: dict[str, str], workers: int, fake_pid: int, args: argparse.Namespace) -> dict[str, float]:
    log = Path(env["ASKDB_HOME"]) / f"serve-{workers}.log"
    server, base = serve(env, workers, log)
    try:
        asyncio.run(load(base, workers * 2, 3))  # warm every process: first sqlglot parses, first queries
        single, _ = asyncio.run(load(base, 1, 10))
        before = (cpu_seconds(server.pid), cpu_seconds(fake_pid), time.process_time())
        latencies, statuses = asyncio.run(load(base, args.clients, args.duration))
        after = (cpu_seconds(server.pid), cpu_seconds(fake_pid), time.process_time())
    finally:
        server.terminate()
        server.wait(30)
    n = len(latencies)
    errors = sum(1 for s in statuses if s != 200)
    if errors:
        print(
            f"{errors} errors with --workers {workers}; the first:\n  "
            + "\n  ".join(FAILURES)
            + f"\nthe server's stderr ends:\n{log.read_text()[-3000:]}"
        )
    FAILURES.clear()
    cpu = [(b - a) * 1000 / max(n, 1) for a, b in zip(before, after)]
    return {
        "workers": workers,
        "alone": statistics.median(single),
        "n": n,
        "rate": n / args.duration,
        "errors": errors,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "max": max(latencies),
        "cpu_server": cpu[0],
        "cpu_fake": cpu[1],
        "cpu_clients": cpu[2],
    }


def run_fake(env: dict[str, str], work: Path, latency: float) -> tuple[subprocess.Popen, str]:
    url_file = work / f"fake-{latency}.url"
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(url_file), str(latency)], env=env)
    return fake, wait_for(url_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument(
        "--latency", default="0.2", help="seconds the fake model waits per call; several: 0.2,1.0"
    )
    parser.add_argument(
        "--workers", default=f"1,{os.cpu_count() or 1}", help="askdb serve --workers counts to run"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="askdb-bench-api-"))
    env = {
        **os.environ,
        "ASKDB_HOME": str(work),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ASKDB_LLM_MODEL": "fake-model",
    }
    subprocess.run(
        [sys.executable, "-m", "askdb", "demo-db", "--scale", "0.01"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run([sys.executable, "-m", "askdb", "index"], env=env, check=True, capture_output=True)
    rows = []
    for latency in dict.fromkeys(float(x) for x in args.latency.split(",")):
        fake, env["ASKDB_OLLAMA_HOST"] = run_fake(env, work, latency)
        try:
            for workers in dict.fromkeys(int(w) for w in args.workers.split(",")):
                rows.append({"latency": latency, **measure(env, workers, fake.pid, args)})
        finally:
            fake.terminate()
            fake.wait(10)
    cores = os.cpu_count() or 1
    print(
        f"{args.clients} clients for {args.duration:.0f} s, 2 fake model calls per question; {cores} cores shared "
        f"by server, fake model and clients; load average now {os.getloadavg()[0]:.2f}"
    )
    print(
        "offered: questions/s the clients would ask if nothing queued (clients / alone); CPU-bound: the most "
        "the cores can serve at the CPU each question cost (server + fake + clients)"
    )
    print(
        f"{'model':>6} {'workers':>7} {'alone':>7} {'offered':>7} {'CPU-bound':>9} {'req/s':>6} {'errors':>6} "
        f"{'p50':>7} {'p95':>7} {'p99':>7} {'p95/alone':>9}   CPU ms per question: server / fake / clients"
    )
    ok = True
    for r in rows:
        ratio = r["p95"] / r["alone"]
        ok = ok and r["errors"] == 0 and ratio <= 1.5
        cpu = r["cpu_server"] + r["cpu_fake"] + r["cpu_clients"]
        print(
            f"{r['latency'] * 1000:>4.0f}ms {r['workers']:>7} {r['alone'] * 1000:>5.0f}ms "
            f"{args.clients / r['alone']:>7.1f} {cores * 1000 / cpu:>9.1f} {r['rate']:>6.1f} {r['errors']:>6} "
            f"{r['p50'] * 1000:>5.0f}ms {r['p95'] * 1000:>5.0f}ms {r['p99'] * 1000:>5.0f}ms {ratio:>8.2f}x"
            f"   {r['cpu_server']:.1f} / {r['cpu_fake']:.1f} / {r['cpu_clients']:.1f}"
        )
    print(
        "target: no errors and p95 <= 1.5x a single request's latency; "
        + ("met" if ok else "NOT met")
        + " by every row"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
