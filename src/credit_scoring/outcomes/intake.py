"""Record realised outcomes: validate, join to the logged decisions, store, report every row.

Input (a CSV/Parquet file for ``credit-scoring outcomes --data FILE``, JSON items for
``POST /v1/outcomes``): one row per decision with

* the decision: column ``decision_id`` (or ``request_id``, the same thing: the logged request
  id, ``<id>-<i>`` in a batch), **or** column ``application_key``: the key the lender sent with
  the application (recorded in the decision ledger). A key resolves to the **earliest** of its
  decisions made within the performance window before the observation date: the PD in force
  at the start of the performance window is the one tested (a later re-scoring may already
  have seen the deterioration). One of the two columns per input, not both;
* the default flag: ``defaulted`` (or ``default_flag``), 0/1 (``true``/``false`` accepted);
* the observation date: ``observation_date`` (or ``observed_at``), ISO date.

A malformed file (missing column, a flag that is not 0/1, an unreadable date, an empty id) is
refused as a whole with an error naming the column and rows; nothing is written. Every
well-formed row is then either **recorded** or **rejected** with a reason, and the report lists
the rejected ids (``received == recorded + rejected``):

* ``duplicate``: the id already has an outcome, or appears earlier in the same input (the first
  one counts; an outcome is never overwritten);
* ``unknown``: no logged decision has this id (or key);
* ``before_decision``: observed before the decision was made (a wrong id or date; for a key:
  before any of its decisions);
* ``late``: observed more than ``CREDIT_SCORING_OUTCOME_WINDOW_DAYS`` (default 365, the
  performance window of the PDs) after the decision (for a key: after all of its decisions): a
  default that late says nothing about the PD tested, so it is not recorded against it.

Rejected rows are listed by what they were given as (the decision id, or the application key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from credit_scoring.config import Settings
from credit_scoring.outcomes.decisions import LoggedDecision, find_decisions, find_decisions_by_key
from credit_scoring.outcomes.store import Outcome, OutcomeStore

Reason = Literal["duplicate", "unknown", "before_decision", "late"]
REASONS: tuple[Reason, ...] = ("duplicate", "unknown", "before_decision", "late")
KEY_COLUMN = "application_key"
ID_COLUMNS = ("decision_id", "request_id", KEY_COLUMN)
FLAG_COLUMNS = ("defaulted", "default_flag")
DATE_COLUMNS = ("observation_date", "observed_at")
_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


class OutcomesError(ValueError):
    """Malformed outcomes input (names the column and rows); nothing was written."""


@dataclass
class IntakeReport:
    """What happened to every row: ``received == recorded + sum(rejected counts)``."""

    source: str
    received: int = 0
    recorded: int = 0
    rejected: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in REASONS})
    store: str = ""

    @property
    def rejected_count(self) -> int:
        return sum(len(v) for v in self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "store": self.store,
            "received": self.received,
            "recorded": self.recorded,
            "rejected": self.rejected_count,
            "rejected_by_reason": {k: len(v) for k, v in self.rejected.items()},
            "rejected_ids": self.rejected,
        }


def _pick(columns: Sequence[str], names: Sequence[str], what: str) -> str:
    found = [c for c in names if c in columns]
    if not found:
        raise OutcomesError(f"missing column for the {what}: one of {', '.join(names)}")
    if len(found) > 1:
        raise OutcomesError(f"ambiguous {what}: columns {', '.join(found)} all present")
    return found[0]


def _rows_label(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:10])
    return (
        f"row {shown}" if len(rows) == 1 else f"rows {shown}" + (" ..." if len(rows) > 10 else "")
    )


def parse_records(records: Sequence[Mapping[str, Any]], first_row: int = 1) -> list[Outcome]:
    """Validate rows (dicts with the columns above); row numbers in errors start at
    ``first_row`` (2 for a CSV with a header line)."""
    if not records:
        return []
    columns = list(records[0].keys())
    id_col = _pick(columns, ID_COLUMNS, "decision id or application key")
    by_key = id_col == KEY_COLUMN
    flag_col = _pick(columns, FLAG_COLUMNS, "default flag")
    date_col = _pick(columns, DATE_COLUMNS, "observation date")
    bad: dict[str, list[int]] = {id_col: [], flag_col: [], date_col: []}
    out: list[Outcome] = []
    for i, rec in enumerate(records, start=first_row):
        rid = rec.get(id_col)
        rid_s = "" if rid is None or rid != rid else str(rid).strip()  # NaN != NaN
        flag_raw = str(rec.get(flag_col)).strip().lower()
        flag = 1 if flag_raw in _TRUE else 0 if flag_raw in _FALSE else None
        raw_day = rec.get(date_col)
        try:
            day = (
                raw_day
                if isinstance(raw_day, date)
                else date.fromisoformat(str(raw_day).strip()[:10])
            )
        except ValueError:
            day = None
        if not rid_s:
            bad[id_col].append(i)
        if flag is None:
            bad[flag_col].append(i)
        if day is None:
            bad[date_col].append(i)
        if rid_s and flag is not None and day is not None:
            day = day if not hasattr(day, "date") else day.date()
            out.append(
                Outcome("", flag, day, application_key=rid_s)
                if by_key
                else Outcome(rid_s, flag, day)
            )
    problems = [
        f"column {col!r}: {what} at {_rows_label(rows)}"
        for col, rows in bad.items()
        if rows
        for what in [
            "empty id"
            if col == id_col
            else "not 0/1"
            if col == flag_col
            else "not an ISO date (YYYY-MM-DD)"
        ]
    ]
    if problems:
        raise OutcomesError("; ".join(problems) + "; nothing was recorded")
    return out


def read_outcomes_file(path: Path) -> list[Outcome]:
    """Rows of a CSV or Parquet file, validated (errors name the file, column and rows)."""
    import pandas as pd

    if not path.is_file():
        raise OutcomesError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            first = 2
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            first = 1
        else:
            raise OutcomesError(f"{path}: expected a .csv or .parquet file")
    except OutcomesError:
        raise
    except Exception as exc:
        raise OutcomesError(f"{path}: cannot read: {exc}") from exc
    try:
        records = [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]
        return parse_records(records, first_row=first)
    except OutcomesError as exc:
        raise OutcomesError(f"{path}: {exc}") from exc


def _resolve_key(
    o: Outcome, decided: list[LoggedDecision], window: int
) -> tuple[LoggedDecision | None, Reason | None]:
    """The decision a keyed outcome belongs to (the earliest within the performance window
    before the observation), else why none does."""
    if not decided:
        return None, "unknown"
    for d in decided:  # oldest first
        age = (o.observed_at - d.ts.date()).days
        if 0 <= age <= window:
            return d, None
    if all(d.ts.date() > o.observed_at for d in decided):
        return None, "before_decision"
    return None, "late"


def record_outcomes(settings: Settings, outcomes: Sequence[Outcome], source: str) -> IntakeReport:
    """Join to the logged decisions (by id or by application key), store what is valid, report
    every row."""
    report = IntakeReport(source=source, received=len(outcomes))
    store = OutcomeStore(settings)
    report.store = store.location
    window = settings.outcome_window_days
    by_key = find_decisions_by_key(
        settings, [o.application_key for o in outcomes if o.application_key is not None]
    )
    ids = [o.decision_id for o in outcomes if o.application_key is None]
    decisions = find_decisions(settings, ids)
    resolved: list[tuple[Outcome, LoggedDecision | None, Reason | None]] = []
    for o in outcomes:
        if o.application_key is not None:
            d, why = _resolve_key(o, by_key.get(o.application_key, []), window)
            resolved.append((replace(o, decision_id=d.decision_id) if d else o, d, why))
        else:
            resolved.append((o, decisions.get(o.decision_id), None))
    already = store.existing([o.decision_id for o, d, _ in resolved if d is not None])
    seen: set[str] = set()
    accepted: list[Outcome] = []
    for o, decision, why in resolved:
        rid = o.decision_id
        reason: Reason | None = why
        if reason is not None:
            pass
        elif rid in already or rid in seen:
            reason = "duplicate"
        elif decision is None:
            reason = "unknown"
        elif o.observed_at < decision.ts.date():
            reason = "before_decision"
        elif (o.observed_at - decision.ts.date()).days > window:
            reason = "late"
        seen.add(rid)
        if reason is None:
            accepted.append(o)
        else:
            report.rejected[reason].append(o.application_key or rid)
    raced = store.insert(accepted, source) if accepted else set()
    labels = {o.decision_id: o.application_key or o.decision_id for o in accepted}
    report.rejected["duplicate"] += sorted(labels[r] for r in raced)
    report.recorded = len(accepted) - len(raced)
    assert report.received == report.recorded + report.rejected_count
    return report
