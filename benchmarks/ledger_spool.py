"""Cost of recording decisions: the spool write on the request path, and shipping to PostgreSQL.

Baseline: what the request path did before the ledger (append the row to an in-memory deque; a
writer thread serialised and wrote it later, so a crash lost the queue). This project: one
``SpoolWriter.append`` per request (orjson + a copy into the mapped segment before answering;
fsync every 50 ms in a thread). Then the shipper's CPU per record into the embedded SQLite
ledger (what the API's shipper process does by default: parse, check, canonical dump, hash
chain, idempotent insert; best of 3 spools of ``--ship`` records), and with ``--dsn`` its
throughput into a real PostgreSQL ledger (advisory lock). ``--prefill N`` also ships into a
ledger already holding N decisions, once with random decision ids (what the API gave before
its ids became UUID version 7) and once with the API's time-ordered ids.

    .venv/bin/python benchmarks/ledger_spool.py [--requests 20000] [--ship 20000] [--dsn URL]
        [--prefill 300000]
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credit_scoring.api.logs import time_ordered_id
from credit_scoring.ledger.embedded import EmbeddedLedgerStore
from credit_scoring.ledger.postgres import PostgresLedgerStore
from credit_scoring.ledger.shipper import Shipper
from credit_scoring.ledger.spool import LedgerStats, SpoolWriter


def record(i: int) -> dict[str, Any]:
    """A decision record the size of the API's (20 inputs, 4 reasons)."""
    return {
        "decision_id": f"bench-{i}",
        "request_id": f"bench-{i}",
        "ts": datetime.now(UTC),
        "model_name": "credit-scoring",
        "model_version": "1",
        "inputs": {f"feature_{k}": k * 1.5 for k in range(20)},
        "probability": 0.12,
        "score": 612.3,
        "decision": "approve",
        "reasons": [
            {
                "feature": "feature_1",
                "value": 1.5,
                "contribution": 0.2,
                "points": -3.1,
                "reason": "x",
            }
        ]
        * 4,
        "latency_ms": 0.5,
        "channel": "api",
    }


def per_request_us(fn: Any, n: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for i in range(n):
            fn(i)
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def spool_of(n: int, new_id: Callable[[], str] | None = None) -> Path:
    """A closed spool directory holding ``n`` records with fresh decision ids: ``new_id()``'s
    (also the request ids, as in the API) when given, else sequential ones of this run."""
    ship_dir = Path(tempfile.mkdtemp(prefix="ship-bench-"))
    w = SpoolWriter(ship_dir, LedgerStats())
    w.open()
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        rec = record(i)
        if new_id is None:
            rec["decision_id"] = f"{run}-{i}"
        else:
            rec["decision_id"] = rec["request_id"] = new_id()
        w.append([rec])
    w.close()
    return ship_dir


def ship_us(store: EmbeddedLedgerStore, ship_dir: Path, n: int) -> float:
    """CPU per record of shipping the spool ``ship_dir`` of ``n`` records into ``store``."""
    stats = LedgerStats()
    t0 = time.process_time()
    Shipper(store, ship_dir, stats).ship_once()
    took = time.process_time() - t0
    assert stats.shipped == n, stats
    return took / n * 1e6


def embedded_ship_us(n: int) -> float:
    """CPU per record of shipping a spool of ``n`` records into a new SQLite ledger."""
    ship_dir = spool_of(n)
    store = EmbeddedLedgerStore(ship_dir / "ledger.db")
    store.prepare()
    took = ship_us(store, ship_dir, n)
    store.close()
    shutil.rmtree(ship_dir, ignore_errors=True)
    return took


def _random_id() -> str:
    return f"{random.getrandbits(128):032x}"


def filled_ship_us(prefill: int, n: int, new_id: Callable[[], str]) -> float:
    """CPU per record of shipping ``n`` records into a ledger already holding ``prefill``,
    every decision id made by ``new_id``."""
    base = Path(tempfile.mkdtemp(prefix="ship-filled-"))
    store = EmbeddedLedgerStore(base / "ledger.db")
    store.prepare()
    counts = [min(50_000, prefill - k) for k in range(0, prefill, 50_000)]
    for count in [*counts, n]:  # the prefill in spools of 50,000, then the measured one
        ship_dir = spool_of(count, new_id)
        took = ship_us(store, ship_dir, count)
        shutil.rmtree(ship_dir, ignore_errors=True)
    store.close()
    shutil.rmtree(base, ignore_errors=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--ship", type=int, default=20_000)
    parser.add_argument("--dsn", default=None, help="PostgreSQL URL of an empty database")
    parser.add_argument(
        "--prefill", type=int, default=0, help="also ship into a ledger holding this many"
    )
    args = parser.parse_args()
    spool = Path(tempfile.mkdtemp(prefix="spool-bench-"))
    writer = SpoolWriter(spool, LedgerStats())
    writer.open()
    queue: collections.deque[dict[str, Any]] = collections.deque()
    records = [record(i) for i in range(args.requests)]
    base = per_request_us(lambda i: queue.extend([records[i]]), args.requests)
    spooled = per_request_us(lambda i: writer.append([records[i]]), args.requests)
    writer.close()
    print("| request path, per decision | CPU us (best of 5) |")
    print("|---|---:|")
    print(f"| in-memory deque append (baseline, before the ledger) | {base:.2f} |")
    print(f"| spool append: orjson + copy into the mapped segment (this project) | {spooled:.2f} |")
    shipped_us = min(embedded_ship_us(args.ship) for _ in range(3))
    print(f"\nshipper into the embedded SQLite ledger: {shipped_us:.1f} us CPU per record")
    if args.prefill:
        print(f"\n| into a ledger of {args.prefill:,} decisions, ids | shipper CPU us per record |")
        print("|---|---:|")
        for label, new_id in (
            ("random (128 bits)", _random_id),
            ("UUID version 7 (the API's)", time_ordered_id),
        ):
            print(f"| {label} | {filled_ship_us(args.prefill, args.ship, new_id):.1f} |")
    if args.dsn:
        ship_dir = spool_of(args.ship)
        stats = LedgerStats()
        store = PostgresLedgerStore(args.dsn)
        t0 = time.perf_counter()
        Shipper(store, ship_dir, stats).ship_once()
        took = time.perf_counter() - t0
        assert stats.shipped == args.ship, stats
        t1 = time.perf_counter()
        ok = store.verify().ok
        verify_s = time.perf_counter() - t1
        store.close()
        print(
            f"\nshipped {stats.shipped:,} records to PostgreSQL in {took:.2f} s "
            f"({stats.shipped / took:,.0f} records/s); verify {verify_s:.2f} s, ok={ok}"
        )


if __name__ == "__main__":
    main()
