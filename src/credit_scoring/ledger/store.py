"""The decision ledger's durable store: one append-only, hash-chained table of entries.

Two implementations share this logic and differ only in connection, locking and types:
:class:`~credit_scoring.ledger.postgres.PostgresLedgerStore` (``CREDIT_SCORING_DATABASE_URL``;
a transaction-scoped advisory lock serialises appends from every replica) and
:class:`~credit_scoring.ledger.embedded.EmbeddedLedgerStore` (SQLite file ``<home>/ledger.db``;
``BEGIN IMMEDIATE`` serialises appends from every local process).

Table ``decision_ledger``: ``seq`` (gap-free chain position), ``entry_id`` (unique: the decision
id, or the review id: appends are idempotent on it), ``kind`` (``decision``/``review``),
``decision_id``, ``ts``, ``model_name``, ``model_version``, ``decision`` (the model's, or the
review's final decision), ``body`` (the canonical JSON text that is hashed), ``prev_hash``,
``hash``. Decisions carrying the client's ``application_key`` (in the body) are found by key
through an expression index on it (``decision_ledger_key_idx``, see
:meth:`LedgerStore.decisions_by_key`); the key is no column of its own, so it stays inside the
hashed body. Table ``decision_ledger_meta`` keeps the head (``head_seq``, ``head_hash``) and the
base left by retention purges (``base_seq``, ``base_hash``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson

from credit_scoring.ledger.records import (
    GENESIS_HASH,
    AppendResult,
    ChainCursor,
    DecisionHistory,
    Kind,
    LedgerEntry,
    StoredRow,
    UnknownDecision,
    VerifyResult,
    canonical,
    decision_body,
    entry_id,
    review_body,
    utc_iso,
    verify_entries,
)

COLUMNS = (
    "seq",
    "entry_id",
    "kind",
    "decision_id",
    "ts",
    "model_name",
    "model_version",
    "decision",
    "body",
    "prev_hash",
    "hash",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM decision_ledger"  # noqa: S608
_IN_CHUNK = 500


def ddl(*, seq_type: str, ts_type: str, key_expr: str) -> str:
    """The tables and indexes, given the driver's integer and timestamp types and its
    expression of the body's ``application_key``."""
    return f"""
CREATE TABLE IF NOT EXISTS decision_ledger (
    seq           {seq_type} PRIMARY KEY,
    entry_id      TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('decision', 'review')),
    decision_id   TEXT NOT NULL,
    ts            {ts_type} NOT NULL,
    model_name    TEXT,
    model_version TEXT,
    decision      TEXT,
    body          TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decision_ledger_decision_idx ON decision_ledger (decision_id);
CREATE INDEX IF NOT EXISTS decision_ledger_ts_idx ON decision_ledger (kind, ts);
CREATE INDEX IF NOT EXISTS decision_ledger_key_idx ON decision_ledger ({key_expr})
    WHERE kind = 'decision';
CREATE TABLE IF NOT EXISTS decision_ledger_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class LedgerStore(ABC):
    """Append-only decision ledger: decisions, reviews linked to them, and a chain check."""

    name: str
    #: DB-API placeholder of the driver.
    placeholder: str = "?"
    #: SQL expression of a body's ``application_key`` (the one the key index is built on).
    key_expr: str

    def __init__(self) -> None:
        self._lock = threading.Lock()

    # --- driver hooks --------------------------------------------------------------------------
    @abstractmethod
    def _transaction(self, serialised: bool) -> AbstractContextManager[Any]:
        """A cursor inside one transaction; ``serialised`` takes the store-wide append lock."""

    @abstractmethod
    def _ts_param(self, ts: datetime | str) -> Any:
        """A timestamp, or ISO 8601 text (a body's ``ts``), as the driver stores it."""

    @abstractmethod
    def _ts_value(self, value: Any) -> datetime:
        """A stored timestamp back as an aware datetime."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # --- helpers ---------------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def _row(self, row: tuple[Any, ...]) -> StoredRow:
        seq, eid, kind, did, ts, name, ver, decision, text, prev, digest = row
        return (seq, eid, kind, did, self._ts_value(ts), name, ver, decision, text, prev, digest)

    def _entry(self, row: tuple[Any, ...]) -> LedgerEntry:
        seq, eid, kind, did, ts, _name, _ver, _dec, text, prev, digest = self._row(row)
        entry_kind: Kind = "review" if kind == "review" else "decision"
        return LedgerEntry(seq, eid, entry_kind, did, ts, orjson.loads(text), prev, digest)

    def _meta(self, cur: Any) -> dict[str, str]:
        cur.execute("SELECT key, value FROM decision_ledger_meta")
        return {k: v for k, v in cur.fetchall()}

    def _set_meta(self, cur: Any, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            cur.execute(
                self._sql(
                    "INSERT INTO decision_ledger_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                (key, value),
            )

    def _existing(self, cur: Any, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            cur.execute(
                self._sql(f"SELECT entry_id FROM decision_ledger WHERE entry_id IN ({marks})"),  # noqa: S608
                chunk,
            )
            found.update(r[0] for r in cur.fetchall())
        return found

    def _write(self, cur: Any, bodies: list[dict[str, Any]]) -> int:
        """Chain and insert bodies (caller holds the serialised transaction)."""
        meta = self._meta(cur)
        cursor = ChainCursor(
            int(meta.get("head_seq", meta.get("base_seq", 0))),
            meta.get("head_hash", meta.get("base_hash", GENESIS_HASH)),
        )
        rows = []
        for body in bodies:
            text = canonical(body)
            seq, prev, digest = cursor.next(text)
            decision = body.get("decision" if body["kind"] == "decision" else "final_decision")
            rows.append(
                (
                    seq,
                    entry_id(body),
                    body["kind"],
                    body["decision_id"],
                    self._ts_param(body["ts"]),
                    body.get("model_name"),
                    body.get("model_version"),
                    decision,
                    text,
                    prev,
                    digest,
                )
            )
        self._insert(cur, rows)
        if rows:
            self._set_meta(cur, {"head_seq": str(cursor.seq), "head_hash": cursor.hash})
        return len(rows)

    def _insert(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert chained rows (drivers may override with a faster bulk insert)."""
        marks = ", ".join("?" * len(COLUMNS))
        cur.executemany(
            self._sql(f"INSERT INTO decision_ledger ({', '.join(COLUMNS)}) VALUES ({marks})"),  # noqa: S608
            rows,
        )

    # --- public API ------------------------------------------------------------------------------
    def append(self, records: Iterable[Mapping[str, Any]]) -> AppendResult:
        """Store decision records (see :data:`~credit_scoring.ledger.records.DECISION_FIELDS`).

        Idempotent on ``decision_id``: records already stored (a batch shipped twice after a
        crash) are skipped and counted as duplicates, so each decision is stored exactly once.
        """
        return self.append_bodies([decision_body(record) for record in records])

    def append_bodies(self, bodies: Iterable[dict[str, Any]]) -> AppendResult:
        """:meth:`append` for records already normalised by
        :func:`~credit_scoring.ledger.records.decision_body` (the shipper checks each line once,
        to quarantine the bad ones, and passes on what that check returned)."""
        unique: dict[str, dict[str, Any]] = {}
        repeated = 0
        for body in bodies:
            if body["decision_id"] in unique:
                repeated += 1
            unique[body["decision_id"]] = body
        if not unique:
            return AppendResult(0, repeated)
        with self._lock, self._transaction(serialised=True) as cur:
            present = self._existing(cur, list(unique))
            new = [b for i, b in unique.items() if i not in present]
            inserted = self._write(cur, new)
        return AppendResult(inserted, repeated + len(present))

    def add_review(
        self,
        decision_id: str,
        *,
        final_decision: str,
        reviewer: str,
        reason: str,
        review_id: str | None = None,
        ts: datetime | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> LedgerEntry:
        """Record a human review of a stored decision as a new linked entry (never an edit).

        Raises :class:`UnknownDecision` when the decision is not in the ledger (yet: records
        reach the store from the spool within seconds). Idempotent on ``review_id``.
        """
        with self._lock, self._transaction(serialised=True) as cur:
            sql = f"{_SELECT} WHERE entry_id = ? AND kind = 'decision'"
            cur.execute(self._sql(sql), (decision_id,))
            row = cur.fetchone()
            if row is None:
                raise UnknownDecision(f"decision {decision_id!r} is not in the ledger")
            body = review_body(
                self._entry(row),
                final_decision=final_decision,
                reviewer=reviewer,
                reason=reason,
                review_id=review_id,
                ts=ts,
                extra=extra,
            )
            if not self._existing(cur, [body["review_id"]]):
                self._write(cur, [body])
            cur.execute(self._sql(f"{_SELECT} WHERE entry_id = ?"), (body["review_id"],))
            return self._entry(cur.fetchone())

    def get(self, decision_id: str) -> DecisionHistory | None:
        """The decision and its reviews, or None when the id is unknown."""
        with self._lock, self._transaction(serialised=False) as cur:
            cur.execute(self._sql(f"{_SELECT} WHERE decision_id = ? ORDER BY seq"), (decision_id,))
            entries = [self._entry(r) for r in cur.fetchall()]
        decisions = [e for e in entries if e.kind == "decision"]
        if not decisions:
            return None
        return DecisionHistory(decisions[0], [e for e in entries if e.kind == "review"])

    def decisions(self, decision_ids: Iterable[str]) -> dict[str, LedgerEntry]:
        """The ``decision`` entries among ``decision_ids`` (unknown ids are absent), queried in
        chunks: what outcomes are joined to."""
        ids = list(dict.fromkeys(decision_ids))
        found: dict[str, LedgerEntry] = {}
        with self._lock, self._transaction(serialised=False) as cur:
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    self._sql(f"{_SELECT} WHERE kind = 'decision' AND decision_id IN ({marks})"),
                    chunk,
                )
                for row in cur.fetchall():
                    entry = self._entry(row)
                    found[entry.decision_id] = entry
        return found

    def decisions_by_key(self, keys: Iterable[str]) -> dict[str, list[LedgerEntry]]:
        """The ``decision`` entries carrying each of ``keys`` as ``application_key``, oldest
        first (keys without a decision are absent): the same applicant scored more than once."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[LedgerEntry]] = {}
        with self._lock, self._transaction(serialised=False) as cur:
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    self._sql(
                        f"{_SELECT} WHERE kind = 'decision' AND {self.key_expr} IN ({marks}) "
                        "ORDER BY seq"
                    ),
                    chunk,
                )
                for row in cur.fetchall():
                    entry = self._entry(row)
                    found.setdefault(str(entry.body["application_key"]), []).append(entry)
        return found

    def entries(
        self,
        start: datetime,
        end: datetime,
        *,
        kind: str = "decision",
        model_name: str | None = None,
        decision: str | None = None,
    ) -> list[LedgerEntry]:
        """Entries of one kind with ``start <= ts < end`` (monitoring, review queues);
        ``decision``: only those with this decision (the model's, or a review's final one)."""
        sql = f"{_SELECT} WHERE kind = ? AND ts >= ? AND ts < ?"
        params: list[Any] = [kind, self._ts_param(start), self._ts_param(end)]
        if model_name is not None:
            sql += " AND model_name = ?"
            params.append(model_name)
        if decision is not None:
            sql += " AND decision = ?"
            params.append(decision)
        with self._lock, self._transaction(serialised=False) as cur:
            cur.execute(self._sql(sql + " ORDER BY seq"), params)
            return [self._entry(r) for r in cur.fetchall()]

    def prepare(self) -> None:
        """Open the store now, creating its tables: readers see an empty ledger, not none."""
        with self._lock, self._transaction(serialised=False):
            pass

    def count(self) -> int:
        """Entries stored (decisions and reviews)."""
        with self._lock, self._transaction(serialised=False) as cur:
            cur.execute("SELECT count(*) FROM decision_ledger")
            return int(cur.fetchone()[0])

    def verify(self) -> VerifyResult:
        """Re-hash the whole chain: finds edited, deleted, inserted or reordered entries."""
        with self._lock, self._transaction(serialised=True) as cur:
            meta = self._meta(cur)
            base = ChainCursor(int(meta.get("base_seq", 0)), meta.get("base_hash", GENESIS_HASH))
            head = None
            if "head_seq" in meta:
                head = ChainCursor(int(meta["head_seq"]), meta["head_hash"])
            return verify_entries(self._scan(cur, f"{_SELECT} ORDER BY seq"), base=base, head=head)

    def _scan(self, cur: Any, sql: str) -> Iterator[StoredRow]:
        """Stream the rows of a query (drivers may override to use a server-side cursor)."""
        cur.execute(sql)
        while True:
            rows = cur.fetchmany(2000)
            if not rows:
                return
            for r in rows:
                yield self._row(r)

    def purge(self, before: datetime) -> int:
        """Retention: delete the oldest entries, all older than ``before``, keeping the chain.

        Deletes the longest prefix of the chain (by seq) whose entries are all older than
        ``before`` and records the last deleted entry as the new base, so :meth:`verify` still
        checks everything that remains. Returns the number of entries deleted.
        """
        with self._lock, self._transaction(serialised=True) as cur:
            cur.execute(
                self._sql("SELECT min(seq) FROM decision_ledger WHERE ts >= ?"),
                (self._ts_param(before),),
            )
            first_kept = cur.fetchone()[0]
            if first_kept is None:
                cur.execute("SELECT max(seq) FROM decision_ledger")
                last = cur.fetchone()[0]
                if last is None:
                    return 0
                through = int(last)
            else:
                through = int(first_kept) - 1
            cur.execute(self._sql("SELECT hash FROM decision_ledger WHERE seq = ?"), (through,))
            row = cur.fetchone()
            if row is None:
                return 0
            cur.execute(self._sql("DELETE FROM decision_ledger WHERE seq <= ?"), (through,))
            deleted = int(cur.rowcount)
            self._set_meta(cur, {"base_seq": str(through), "base_hash": row[0]})
            return deleted

    def describe(self) -> str:
        """Where the ledger lives (no credentials)."""
        return self.name


def ts_text(ts: datetime | str) -> str:
    """Timestamps as stored by text-typed stores (sortable: fixed-width UTC)."""
    return utc_iso(ts)
