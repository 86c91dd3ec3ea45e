"""What a portfolio job reports, and the rejects file's layout (shared by both engines)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from credit_scoring.batch.validate import Problems

#: One line per rejected (row, column): the file, the 1-based data row in it (null when the
#: engine cannot know it, e.g. Spark on CSV), the column, its value as text and the reason.
REJECTS_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("column", pa.string()),
        pa.field("value", pa.string()),
        pa.field("reason", pa.string()),
    ]
)


class CountMismatchError(RuntimeError):
    """Rows in != rows scored + rows rejected: nothing is committed."""


def rejects_path_for(out: Path) -> Path:
    """Default rejects file: ``<out without suffix>.rejects.csv`` beside the output."""
    return out.with_name(f"{out.name.removesuffix(out.suffix) or out.name}.rejects.csv")


def rejects_batch(file: str, first_row: int | None, problems: Problems) -> pa.RecordBatch:
    """The rejects-file lines of one batch's problems."""
    n = len(problems)
    rows = (
        pa.array(problems.rows + first_row, type=pa.int64())
        if first_row is not None
        else pa.nulls(n, pa.int64())
    )
    return pa.RecordBatch.from_arrays(
        [
            pa.array([file] * n, type=pa.string()),
            rows,
            pa.array(problems.columns, type=pa.string()),
            pa.array(problems.values, type=pa.string()),
            pa.array(problems.reasons, type=pa.string()),
        ],
        schema=REJECTS_SCHEMA,
    )


def distinct_rows(problems: Problems) -> int:
    return int(np.unique(problems.rows).size)


@dataclass(frozen=True)
class ScoringReport:
    """Counts and outputs of one job; ``rows_in == rows_scored + rows_rejected`` always holds
    for a committed job (checked before committing)."""

    engine: str
    model_name: str
    model_version: str
    rows_in: int
    rows_scored: int
    rows_rejected: int
    seconds: float
    output: str
    rejects: str

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}


def check_counts(rows_in: int, rows_scored: int, rows_rejected: int) -> None:
    """Raise :class:`CountMismatchError` unless every input row was scored or rejected."""
    if rows_in != rows_scored + rows_rejected:
        raise CountMismatchError(
            f"rows in ({rows_in:,}) != rows scored ({rows_scored:,}) + rows rejected "
            f"({rows_rejected:,}); nothing was written"
        )
