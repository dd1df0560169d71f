"""The HTTP API under concurrent clients, against the fake model at a fixed latency.

    python bench/bench_api.py [--clients 50] [--duration 60] [--latency 0.2]

Starts a fake Ollama (each call waits ``--latency`` s before answering) and ``askdb serve`` in
their own processes over a small demo database, measures one request alone, then keeps
``--clients`` clients asking for ``--duration`` s. It prints throughput, errors and latency
percentiles, and whether p95 stays within 1.5x the single request's latency.
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

QUESTIONS = ["各平台的达人数量", "各平台达人的平均粉丝数", "各城市的达人数量", "各品牌的投放计划数量",
             "各状态的投放计划数量", "各渠道类型的素材数量"]
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


async def one(client: httpx.AsyncClient, question: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = await client.post("/v1/ask", json={"question": question, "trace": False})
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake model waits per call")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="askdb-bench-api-"))
    env = {**os.environ, "ASKDB_HOME": str(work), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ASKDB_LLM_MODEL": "fake-model"}
    subprocess.run([sys.executable, "-m", "askdb", "demo-db", "--scale", "0.01"], env=env, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "askdb", "index"], env=env, check=True, capture_output=True)
    url_file = work / "fake.url"
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(url_file), str(args.latency)], env=env)
    port = free_port()
    server = None
    try:
        env["ASKDB_OLLAMA_HOST"] = wait_for(url_file)
        server = subprocess.Popen([sys.executable, "-m", "askdb", "serve", "--port", str(port)], env=env,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(base + "/healthz").json()["assistant"] == "ready":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        asyncio.run(load(base, 1, 3))  # warm: first sqlglot parses, first queries
        single, _ = asyncio.run(load(base, 1, 10))
        alone = statistics.median(single)
        latencies, statuses = asyncio.run(load(base, args.clients, args.duration))
    finally:
        for proc in (server, fake):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    errors = sum(1 for s in statuses if s != 200)
    p50, p95, p99 = (pct(latencies, p) for p in (50, 95, 99))
    print(f"fake model latency      {args.latency * 1000:.0f} ms per call (2 calls per question)")
    print(f"single request          median {alone * 1000:.0f} ms over {len(single)} requests")
    print(f"{args.clients} clients, {args.duration:.0f} s    {len(latencies)} requests, "
          f"{len(latencies) / args.duration:.1f} req/s, errors {errors}")
    print(f"latency under load      p50 {p50 * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms  "
          f"max {max(latencies) * 1000:.0f} ms")
    ratio = p95 / alone
    print(f"p95 / single            {ratio:.2f}x  ({'within' if ratio <= 1.5 else 'OVER'} the 1.5x bound)")
    sys.exit(0 if errors == 0 and ratio <= 1.5 else 1)


if __name__ == "__main__":
    main()
