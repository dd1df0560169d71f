"""``askdb serve --workers 2`` as people start it: several processes, one set of conversations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from askdb.assistant import Turn
from askdb.serving.conversations import ConversationStore
from askdb.testing import FakeOllamaServer

SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"


def test_two_stores_on_one_file_see_each_others_turns(tmp_path: Path) -> None:
    one, other = ConversationStore(tmp_path / "c.db"), ConversationStore(tmp_path / "c.db")
    one.add("a", Turn("各平台的达人数量", SQL))
    other.add("a", Turn("那粉丝数呢?", None))
    assert one.history("a") == [Turn("各平台的达人数量", SQL), Turn("那粉丝数呢?", None)]
    assert other.history("unknown") == []


def test_the_oldest_conversations_are_forgotten(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db", limit=3)
    for i in range(100):  # pruning runs every 100th add
        store.add(f"c{i % 10}", Turn(f"q{i}"))
    assert [len(store.history(f"c{n}")) for n in range(10)] == [0] * 7 + [10] * 3
    assert store.history("c9")[-1] == Turn("q99")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reply(messages: list[dict]) -> str:
    return "- 分析" if any("数据分析师" in m["content"] for m in messages) else SQL


@pytest.fixture(scope="module")
def home(tmp_path_factory, small_demo) -> Path:
    home = tmp_path_factory.mktemp("serve-home")
    (home / "ads.db").write_bytes(small_demo[0].read_bytes())
    return home


def test_follow_ups_keep_context_across_worker_processes(home: Path, shared_models_dir: Path) -> None:
    env = {
        **os.environ,
        "ASKDB_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "ASKDB_LLM_MODEL": "fake-model",
        "ASKDB_MODELS_DIR": str(shared_models_dir),
    }
    subprocess.run(
        [sys.executable, "-m", "askdb", "index"], env=env, check=True, capture_output=True, timeout=300
    )
    port = _free_port()
    with FakeOllamaServer(_reply) as fake:
        env["ASKDB_OLLAMA_HOST"] = fake.url
        server = subprocess.Popen(
            [sys.executable, "-m", "askdb", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            pids = _ready_workers(base, server)
            cid, questions = None, ["各平台的达人数量", "那粉丝数呢?", "只看小红书", "按城市分呢?"]
            for question in questions:
                # A new connection each time, so the requests are spread over the processes.
                body = httpx.post(
                    base + "/v1/ask", json={"question": question, "conversation_id": cid}, timeout=120
                ).json()
                cid = body["conversation_id"]
            prompt = json.dumps(fake.requests_to("/api/chat")[-2].json["messages"], ensure_ascii=False)
        finally:
            server.terminate()
            server.wait(30)
    assert len(pids) == 2, "two worker processes answer"
    assert all(q.rstrip("?") in prompt for q in questions), "the last question saw every earlier one"


def _ready_workers(base: str, server: subprocess.Popen) -> set[int]:
    """Poll /healthz over fresh connections until two processes have answered ready."""
    pids: set[int] = set()
    deadline = time.time() + 240
    while time.time() < deadline and len(pids) < 2:
        if server.poll() is not None:
            pytest.fail(f"askdb serve exited: {server.stderr.read()[-2000:]}")
        try:
            body = httpx.get(base + "/healthz", timeout=5).json()
            if body["assistant"] == "ready":
                pids.add(body["pid"])
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return pids
