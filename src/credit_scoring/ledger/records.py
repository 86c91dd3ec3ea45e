"""Ledger entries: the canonical body of a decision or a review, and the hash chain over them.

An entry's ``body`` is a JSON object serialised once, canonically (sorted keys, UTC ``Z``
timestamps), and stored as that exact text: the hash is computed over the stored text, so
verifying never depends on re-serialising floats or JSON the same way twice.

``hash = sha256(f"{seq}|{prev_hash}|{body}")``: each entry carries the hash of the previous
one, so editing a body or a column, deleting an entry or reordering entries breaks the chain
(see :func:`verify_entries`). ``seq`` is gap-free (1, 2, 3, ...) and assigned where entries
enter the durable store, under one lock, so several API replicas still form one chain.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from credit_scoring.predictions.record import APPLICATION_KEY, REQUIRED_FIELDS

Kind = Literal["decision", "review"]

#: ``prev_hash`` of the first entry of a ledger that was never purged.
GENESIS_HASH = "0" * 64

#: Fields every decision record must carry (the contract of ``predictions.record``; more are
#: kept as given, e.g. ``reasons``).
DECISION_FIELDS = REQUIRED_FIELDS

#: Final decisions a human review may record.
REVIEW_DECISIONS = ("approve", "decline")


class LedgerError(RuntimeError):
    """The ledger cannot be read or written (names the store and the cause)."""


class InvalidRecord(ValueError):
    """A record misses a required field or has one of the wrong type (names the field)."""


class UnknownDecision(LookupError):
    """A review names a decision id that is not in the ledger."""


@dataclass(frozen=True)
class LedgerEntry:
    """One stored entry (a decision or a review), as read back from the store."""

    seq: int
    entry_id: str
    kind: Kind
    decision_id: str
    ts: datetime
    body: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class DecisionHistory:
    """A decision and the reviews recorded for it later (oldest first)."""

    decision: LedgerEntry
    reviews: list[LedgerEntry] = field(default_factory=list)

    @property
    def final_decision(self) -> str:
        """The decision in force: the last review's, else the model's."""
        if self.reviews:
            return str(self.reviews[-1].body["final_decision"])
        return str(self.decision.body["decision"])


@dataclass(frozen=True)
class AppendResult:
    """What :meth:`LedgerStore.append` did: entries written and ids already present."""

    inserted: int
    duplicates: int


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain check: ``ok`` and, if not, every problem found (seq and what)."""

    entries: int
    head_seq: int
    head_hash: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def utc_iso(value: datetime | str) -> str:
    """A timestamp as ISO 8601 UTC with microseconds and ``Z`` (naive values are UTC)."""
    if isinstance(value, str):
        if len(value) == 27 and value[10] == "T" and value[19] == "." and value[-1] == "Z":
            return value  # already canonical (records read back from the spool)
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidRecord(f"field 'ts': not an ISO 8601 timestamp: {value!r}") from exc
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # isoformat is C code, strftime parses its format on every call (this runs per record).
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_ts(value: str) -> datetime:
    """The inverse of :func:`utc_iso`."""
    return datetime.fromisoformat(value)


def canonical(body: Mapping[str, Any]) -> str:
    """The one serialisation of a body that is stored and hashed."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def chain_hash(seq: int, prev_hash: str, body_text: str) -> str:
    """The hash of entry ``seq`` given the previous entry's hash and its stored body text."""
    return hashlib.sha256(f"{seq}|{prev_hash}|{body_text}".encode()).hexdigest()


def decision_body(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check a decision record and normalise it into a ledger body (kind, UTC ``ts``)."""
    missing = [f for f in DECISION_FIELDS if f not in record]
    if missing:
        raise InvalidRecord(f"decision record misses field(s) {', '.join(missing)}")
    decision_id = record["decision_id"]
    if not isinstance(decision_id, str) or not decision_id:
        raise InvalidRecord("field 'decision_id' must be a non-empty string")
    if not isinstance(record["inputs"], Mapping):
        raise InvalidRecord(f"decision {decision_id}: field 'inputs' must be an object")
    key = record.get(APPLICATION_KEY)
    if key is not None and (not isinstance(key, str) or not key):
        raise InvalidRecord(
            f"decision {decision_id}: field {APPLICATION_KEY!r} must be a non-empty string"
        )
    body = dict(record)
    body["kind"] = "decision"
    body["ts"] = utc_iso(record["ts"])
    body["model_version"] = str(record["model_version"])
    return body


def review_body(
    decision: LedgerEntry,
    *,
    final_decision: str,
    reviewer: str,
    reason: str,
    review_id: str | None = None,
    ts: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A review entry linked to ``decision`` (never an edit of it)."""
    if final_decision not in REVIEW_DECISIONS:
        raise InvalidRecord(
            f"field 'final_decision' must be one of {', '.join(REVIEW_DECISIONS)}, "
            f"not {final_decision!r}"
        )
    for name, value in (("reviewer", reviewer), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidRecord(f"field {name!r} must be a non-empty string")
    body: dict[str, Any] = dict(extra or {})
    body.update(
        kind="review",
        review_id=review_id or f"review-{uuid.uuid4().hex}",
        decision_id=decision.decision_id,
        ts=utc_iso(ts or datetime.now(UTC)),
        final_decision=final_decision,
        reviewer=reviewer.strip(),
        reason=reason.strip(),
        original_decision=decision.body["decision"],
        model_name=decision.body.get("model_name"),
        model_version=decision.body.get("model_version"),
    )
    return body


def entry_id(body: Mapping[str, Any]) -> str:
    """The idempotency key of a body: the decision id, or the review id."""
    return str(body["decision_id"] if body["kind"] == "decision" else body["review_id"])


@dataclass
class ChainCursor:
    """The position new entries are appended at (last seq and its hash)."""

    seq: int
    hash: str

    def next(self, body_text: str) -> tuple[int, str, str]:
        """Advance over one body: returns (seq, prev_hash, hash)."""
        seq, prev = self.seq + 1, self.hash
        self.seq, self.hash = seq, chain_hash(seq, prev, body_text)
        return seq, prev, self.hash


#: Column values checked against the body by :func:`verify_entries`.
StoredRow = tuple[int, str, str, str, datetime, str | None, str | None, str | None, str, str, str]


def verify_entries(
    rows: Iterable[StoredRow], *, base: ChainCursor, head: ChainCursor | None
) -> VerifyResult:
    """Walk stored rows in seq order and report every break of the chain.

    ``rows``: (seq, entry_id, kind, decision_id, ts, model_name, model_version, decision,
    body, prev_hash, hash). ``base`` is where the chain starts (genesis, or the last purged
    entry); ``head`` the head recorded by the store (catches deletion of the last entries).
    """
    problems: list[str] = []
    cursor = ChainCursor(base.seq, base.hash)
    count = 0
    for seq, eid, kind, did, ts, name, version, decision, text, prev, digest in rows:
        count += 1
        if seq != cursor.seq + 1:
            problems.append(f"seq {cursor.seq + 1}..{seq - 1}: entries missing (deleted)")
        if prev != cursor.hash:
            problems.append(f"seq {seq}: prev_hash does not match the previous entry's hash")
        if chain_hash(seq, prev, text) != digest:
            problems.append(f"seq {seq}: hash does not match the stored body (edited)")
        try:
            body = orjson.loads(text)
            expected = (
                entry_id(body),
                body["kind"],
                body["decision_id"],
                parse_ts(body["ts"]),
                body.get("model_name"),
                body.get("model_version"),
                body.get("decision") if body["kind"] == "decision" else body.get("final_decision"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"seq {seq}: body is not a ledger entry ({exc})")
        else:
            stored = (eid, kind, did, ts, name, version, decision)
            if stored != expected:
                cols = (
                    "entry_id",
                    "kind",
                    "decision_id",
                    "ts",
                    "model_name",
                    "model_version",
                    "decision",
                )
                diff = [c for c, a, b in zip(cols, stored, expected, strict=True) if a != b]
                problems.append(f"seq {seq}: column(s) {', '.join(diff)} differ from the body")
        cursor = ChainCursor(seq, digest)
    if head is not None and (head.seq, head.hash) != (cursor.seq, cursor.hash):
        problems.append(
            f"recorded head is seq {head.seq} but the last entry is seq {cursor.seq}: "
            "entries deleted at the end (or the head was edited)"
        )
    return VerifyResult(count, cursor.seq, cursor.hash, problems)
