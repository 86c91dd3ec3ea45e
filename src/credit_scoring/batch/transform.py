"""One record batch in, its scored rows and its problems out: the step both engines run.

The local engine calls :func:`score_batch` on each batch it streams; the Spark engine calls it
inside ``mapInArrow`` on each executor. The output has every input column that is not a model
feature, unchanged, then :func:`output_fields`:

``probability`` (PD), ``score`` (points), ``decision`` (approve/review/decline), for each of the
``k`` reason codes ``reason_<i>`` (feature name), ``reason_<i>_text`` (its human-readable label)
and ``reason_<i>_points`` (signed score impact), null where the row has fewer adverse reasons,
then ``model_name``, ``model_version`` and ``scored_at`` (UTC, one instant per job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from credit_scoring.batch.validate import ValidatedBatch, validate_batch
from credit_scoring.scoring.model import CreditModel
from credit_scoring.scoring.scaling import DECISIONS
from credit_scoring.scoring.vectorised import score_matrix


@dataclass(frozen=True)
class ScoringJob:
    """What scoring a batch needs: the model, its identity and the output options."""

    model: CreditModel
    model_name: str
    model_version: str
    max_reasons: int
    scored_at: datetime
    #: Dictionary-encode the repeated strings (compact Parquet); Spark's Arrow needs plain ones.
    dictionary: bool = True
    _labels: list[str] = field(init=False, repr=False)
    _instant: np.datetime64 = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scored_at.tzinfo is None:
            raise ValueError("scored_at must be timezone-aware")
        naive_utc = self.scored_at.astimezone(UTC).replace(tzinfo=None)
        object.__setattr__(self, "_labels", [f.label for f in self.model.schema.features])
        object.__setattr__(self, "_instant", np.datetime64(naive_utc, "us"))

    @property
    def reasons(self) -> int:
        return min(self.max_reasons, len(self.model.schema.features))

    def output_fields(self) -> list[pa.Field]:
        """The columns appended after the carried-through input columns."""
        text = pa.dictionary(pa.int16(), pa.string()) if self.dictionary else pa.string()
        fields = [
            pa.field("probability", pa.float64(), nullable=False),
            pa.field("score", pa.float64(), nullable=False),
            pa.field("decision", text, nullable=False),
        ]
        for i in range(1, self.reasons + 1):
            fields += [
                pa.field(f"reason_{i}", text),
                pa.field(f"reason_{i}_text", text),
                pa.field(f"reason_{i}_points", pa.float64()),
            ]
        fields += [
            pa.field("model_name", text, nullable=False),
            pa.field("model_version", text, nullable=False),
            pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
        return fields

    def output_names(self) -> list[str]:
        return [f.name for f in self.output_fields()]

    def passthrough(self, names: list[str]) -> list[str]:
        """Input columns carried through: everything that is not a model feature."""
        features = set(self.model.schema.feature_names)
        return [n for n in names if n not in features]

    def _text(self, codes: np.ndarray, labels: list[str]) -> pa.Array:
        """Strings from indices into ``labels`` (negative = null)."""
        indices = pa.array(codes.astype(np.int16), mask=codes < 0)
        array = pa.DictionaryArray.from_arrays(indices, pa.array(labels, type=pa.string()))
        return array if self.dictionary else array.dictionary_decode()


def score_batch(job: ScoringJob, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, ValidatedBatch]:
    """Validate, score and assemble the output batch of the valid rows of ``batch``."""
    checked = validate_batch(batch, job.model.schema)
    kept = job.passthrough(batch.schema.names)
    carried = batch.select(kept)
    if not checked.valid.all():
        carried = carried.filter(pa.array(checked.valid))
    n = carried.num_rows
    s = score_matrix(job.model, checked.x, job.max_reasons)
    names = job.model.schema.feature_names
    columns: list[pa.Array] = [
        pa.array(s.probability),
        pa.array(s.score),
        job._text(s.decision, list(DECISIONS)),
    ]
    for i in range(job.reasons):
        feature = s.reason_feature[:, i]
        columns += [
            job._text(feature, names),
            job._text(feature, job._labels),
            pa.array(s.reason_points[:, i], mask=feature < 0),
        ]
    zeros = np.zeros(n, dtype=np.int16)
    columns += [
        job._text(zeros, [job.model_name]),
        job._text(zeros, [job.model_version]),
        pa.array(np.full(n, job._instant), type=pa.timestamp("us", tz="UTC")),
    ]
    out_schema = pa.schema([*carried.schema, *job.output_fields()])
    out = pa.RecordBatch.from_arrays([*carried.columns, *columns], schema=out_schema)
    return out, checked
