"""The audit log: answered and refused questions, the "run SQL" box, append-only, and `askdb audit tail`."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from askdb.assistant import Assistant
from askdb.cli import main
from askdb.errors import NoAnswer, SqlRejected
from askdb.runtime.audit import audit_log, audited_ask
from askdb.runtime.service import AssistantService
from askdb.testing.scripted import ScriptedFakeLLM

GOOD = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"


def assistant(parts, replies) -> Assistant:
    return Assistant(llm=ScriptedFakeLLM(replies), max_attempts=2, **parts)


def test_answered_and_refused_sql_are_recorded(demo_retrieval_parts, settings):
    log = audit_log(settings)
    answer = audited_ask(
        assistant(demo_retrieval_parts, ["SELECT stars FROM ads_summary", GOOD, "- 分析"]),
        "各平台的达人数量",
        log=log,
        caller="cli",
    )
    with pytest.raises(NoAnswer):
        audited_ask(
            assistant(demo_retrieval_parts, ["DROP TABLE ads_order", "DELETE FROM ads_order"]),
            "删掉订单表",
            log=log,
            caller="api-key-1",
        )
    first, second = log.tail(2)
    assert first.outcome == "answered" and first.sql == answer.sql and first.rows == len(answer.frame)
    assert (
        first.refused[0]["sql"] == "SELECT stars FROM ads_summary" and "stars" in first.refused[0]["reason"]
    )
    assert second.outcome == "error" and second.caller == "api-key-1" and second.sql is None
    assert [r["sql"] for r in second.refused] == ["DROP TABLE ads_order", "DELETE FROM ads_order"]
    assert second.error.startswith("NoAnswer:") and second.duration_ms > 0


def test_the_log_is_append_only(demo_retrieval_parts, settings):
    log = audit_log(settings)
    audited_ask(assistant(demo_retrieval_parts, [GOOD, "- 分析"]), "各平台的达人数量", log=log, caller="cli")
    conn = sqlite3.connect(log.path)
    for statement in ("UPDATE audit SET outcome = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone() == (1,)


def test_run_sql_box_is_audited(demo_retrieval_parts, settings):
    service = AssistantService(settings, assistant=assistant(demo_retrieval_parts, []))
    assert len(service.run_sql(GOOD, caller="ui:abc").frame) > 0
    with pytest.raises(SqlRejected):
        service.run_sql("SELECT * FROM ads_order; DROP TABLE ads_order", caller="ui:abc")
    ran, refused = service.log.tail(2)
    assert (ran.kind, ran.outcome, ran.sql.endswith("LIMIT 10")) == ("sql", "answered", True)
    assert refused.outcome == "refused" and "single_statement" in refused.refused[0]["reason"]


def test_audit_tail_cli(demo_retrieval_parts, settings):
    log = audit_log(settings)
    audited_ask(
        assistant(demo_retrieval_parts, ["SELECT stars FROM ads_summary", GOOD, "- 分析"]),
        "各平台的达人数量",
        log=log,
        caller="cli",
    )
    result = CliRunner().invoke(main, ["audit", "tail", "-n", "5", "--json"])
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)
    assert (
        entry["question"] == "各平台的达人数量"
        and entry["refused"][0]["sql"] == "SELECT stars FROM ads_summary"
    )
    text = CliRunner().invoke(main, ["audit", "tail"]).output
    assert "各平台的达人数量" in text and "refused 1x" in text


def test_a_deleted_or_replaced_log_is_started_again(tmp_path):
    """The writer stays open between rows; it must not keep writing into a file that is gone."""
    from askdb.runtime.audit import AuditEntry, AuditLog

    log = AuditLog(tmp_path / "audit.db")
    log.record(AuditEntry(caller="t", question="q1", outcome="answered", duration_ms=1.0))
    (tmp_path / "audit.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"audit.db{suffix}").unlink(missing_ok=True)
    log.record(AuditEntry(caller="t", question="q2", outcome="answered", duration_ms=1.0))
    reader = AuditLog(tmp_path / "audit.db")
    assert [e.question for e in reader.tail()] == ["q2"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):  # the schema came back with the file
        sqlite3.connect(tmp_path / "audit.db").execute("DELETE FROM audit")
    log.close()


def test_rows_written_by_many_threads_all_land(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from askdb.runtime.audit import AuditEntry, AuditLog

    log = AuditLog(tmp_path / "audit.db")
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda i: (
                    log.record(
                        AuditEntry(caller="t", question=f"q{i}", outcome="answered", duration_ms=1.0)
                    ).id
                ),
                range(200),
            )
        )
    assert sorted(ids) == list(range(1, 201))
    assert {e.question for e in AuditLog(tmp_path / "audit.db").tail(500)} == {f"q{i}" for i in range(200)}
