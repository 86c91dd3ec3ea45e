"""The mapped spool segments and the shipper process, against real PostgreSQL.

Segments are created at full size and mapped: a live one has a zero tail, which readers must
never take for records (nor count in the spool's bytes); a dead writer's keeps it. The shipper
runs in a child process that shares the counters with the API process, stops when told to, and
also when its parent is killed (no orphan), shipping what remains either way.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import pytest
from helpers.ledger import decision_record, wait_for

from credit_scoring.config import Settings
from credit_scoring.ledger.postgres import PostgresLedgerStore
from credit_scoring.ledger.recorder import DecisionRecorder
from credit_scoring.ledger.ship_process import ShipperProcess
from credit_scoring.ledger.shipper import Shipper, pending_in
from credit_scoring.ledger.spool import LedgerStats, SpoolWriter

pytestmark = pytest.mark.integration


def rec(i: int, prefix: str = "p") -> dict[str, Any]:
    return decision_record(i, prefix)


def stored_ids(url: str) -> list[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT decision_id FROM decision_ledger ORDER BY seq")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a dead parent's reaper) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_live_segment_zero_tail_is_no_record(tmp_path: Path, pg_url: str) -> None:
    spool = tmp_path / "spool"
    stats = LedgerStats()
    writer = SpoolWriter(spool, stats, segment_bytes=1 << 20)
    writer.open()
    assert writer.append([rec(i) for i in range(30)]) == 30
    segment = writer.active_segment
    assert segment.stat().st_size == 1 << 20  # reserved up front, zero tail
    assert pending_in(spool)[0] == 30
    Shipper(PostgresLedgerStore(pg_url), spool, stats).ship_once()
    assert stored_ids(pg_url) == [f"p-{i}" for i in range(30)]
    assert stats.pending_records == 0 and stats.spool_bytes == 0  # not the 1 MB tail
    assert segment.exists()  # still the writer's
    writer.append([rec(30)])
    writer.close()
    data = segment.read_bytes()  # trimmed to its lines
    assert data.endswith(b"\n") and b"\0" not in data and data.count(b"\n") == 31
    Shipper(PostgresLedgerStore(pg_url), spool, stats).ship_once()
    assert len(stored_ids(pg_url)) == 31 and stats.lost == 0
    assert list(spool.glob("seg-*")) == []


def test_record_still_being_copied_waits_for_the_next_pass(tmp_path: Path, pg_url: str) -> None:
    """A reader may see a record's newline before bytes in its middle (weak memory order):
    a line with a zero byte is not whole yet, and is shipped once it is."""
    spool = tmp_path / "spool"
    spool.mkdir()
    whole = orjson.dumps(rec(1), option=orjson.OPT_UTC_Z) + b"\n"
    copying = bytearray(orjson.dumps(rec(2), option=orjson.OPT_UTC_Z) + b"\n")
    copying[20:40] = bytes(20)  # its middle not visible yet
    path = spool / "seg-live-000001.jsonl"
    path.write_bytes(whole + bytes(copying) + bytes(4096))
    holder = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a live writer
        stats = LedgerStats()
        shipper = Shipper(PostgresLedgerStore(pg_url), spool, stats)
        shipper.ship_once()
        assert stored_ids(pg_url) == ["p-1"]
        assert stats.pending_records == 0 and stats.lost == 0
        completed = orjson.dumps(rec(2), option=orjson.OPT_UTC_Z) + b"\n"
        os.pwrite(holder, completed, len(whole))
        shipper.ship_once()
        assert stored_ids(pg_url) == ["p-1", "p-2"]
    finally:
        os.close(holder)
    assert path.exists()


def test_dead_writers_zero_tail_and_torn_record(tmp_path: Path, pg_url: str) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = b"".join(orjson.dumps(rec(i), option=orjson.OPT_UTC_Z) + b"\n" for i in range(3))
    torn = b'{"decision_id": "p-3", "ts": "20'
    (spool / "seg-dead-000001.jsonl").write_bytes(lines + torn + bytes(1 << 16))
    stats = LedgerStats()
    Shipper(PostgresLedgerStore(pg_url), spool, stats).ship_once()
    assert stored_ids(pg_url) == ["p-0", "p-1", "p-2"]
    assert stats.lost_by_reason == {"invalid": 1}
    assert (spool / "quarantine" / "seg-dead-000001.jsonl").read_bytes() == torn + b"\n"
    assert list(spool.glob("seg-*")) == []


def settings_for(tmp_path: Path, pg_url: str, **extra: Any) -> Settings:
    return Settings(home=tmp_path / "home", database_url=pg_url, **extra)


def test_recorder_ships_from_a_child_process_with_shared_counters(
    tmp_path: Path, pg_url: str
) -> None:
    recorder = DecisionRecorder(settings_for(tmp_path, pg_url), PostgresLedgerStore(pg_url))
    assert isinstance(recorder.shipper, ShipperProcess)
    recorder.start()
    child = recorder.shipper.pid
    assert child is not None and child != os.getpid() and alive(child)
    for i in range(200):
        recorder.record([rec(i)])
    # Counted by the child, seen here: the counters are shared.
    wait_for(lambda: recorder.stats.shipped == 200, 60, "200 records shipped by the child")
    assert recorder.stats.written == 200 and recorder.stats.pending_records == 0
    recorder.record([rec(i) for i in range(200, 250)])
    assert recorder.close(10)  # the child ships the rest, then exits
    assert not alive(child)
    assert stored_ids(pg_url) == [f"p-{i}" for i in range(250)]
    assert recorder.stats.shipped == 250 and recorder.stats.lost == 0


def test_thread_shipper_is_still_available(tmp_path: Path, pg_url: str) -> None:
    settings = settings_for(tmp_path, pg_url, ledger_shipper="thread")
    recorder = DecisionRecorder(settings, PostgresLedgerStore(pg_url))
    assert isinstance(recorder.shipper, Shipper)
    recorder.start()
    recorder.record([rec(i) for i in range(20)])
    assert recorder.close(10)
    assert len(stored_ids(pg_url)) == 20


PARENT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from credit_scoring.config import Settings
    from credit_scoring.ledger.postgres import PostgresLedgerStore
    from credit_scoring.ledger.recorder import DecisionRecorder
    settings = Settings(home=Path(sys.argv[1]), database_url=sys.argv[2])
    recorder = DecisionRecorder(settings, PostgresLedgerStore(sys.argv[2]))
    recorder.start()
    for i in range(3000):
        recorder.record([{"decision_id": f"k-{i}", "ts": datetime.now(UTC), "model_name": "m",
                          "model_version": "1", "inputs": {"a": i}, "probability": 0.1,
                          "score": 600.0, "decision": "approve"}])
    print(recorder.shipper.pid, flush=True)
    sys.stdin.read()  # killed here
    """
)


def test_parent_killed_child_ships_the_rest_and_exits(tmp_path: Path, pg_url: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "home"), pg_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    wait_for(lambda: not alive(child), 60, "the orphaned shipper to ship and exit")
    ids = stored_ids(pg_url)
    assert len(ids) == len(set(ids)) == 3000
    assert list((tmp_path / "home" / "ledger-spool").glob("seg-*")) == []
