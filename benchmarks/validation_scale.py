"""Training-data validation on a wide frame: this project's vectorised checks vs pandera.

Frame: ROWS rows x COLS columns (half numeric with min/max, half categorical with 5 allowed
values, all valid) plus a 0/1 target. Baseline: pandera's ``DataFrameSchema.validate(lazy=True)``
with the same checks (how ``data/validation.py`` worked before), timed on the first
``BASELINE_COLS`` columns only (the full width took ~9 minutes), against this project on the
same columns and on the full width.

    .venv/bin/python benchmarks/validation_scale.py [--rows 100000] [--cols 2000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from credit_scoring.data.schema import Feature, FeatureSchema, Target
from credit_scoring.data.validation import validate_training_frame

CATS = ["a", "b", "c", "d", "e"]


def make(rows: int, cols: int) -> tuple[pd.DataFrame, FeatureSchema]:
    rng = np.random.default_rng(7)
    pool = np.array(CATS, dtype=object)
    data: dict[str, np.ndarray] = {}
    features: list[Feature] = []
    for i in range(cols):
        if i % 2:
            data[f"c{i}"] = pool[rng.integers(0, len(CATS), rows)]
            features.append(Feature(name=f"c{i}", type="categorical", categories=CATS))
        else:
            data[f"n{i}"] = rng.uniform(0, 100, rows)
            features.append(Feature(name=f"n{i}", type="numeric", min=0, max=100))
    data["y"] = rng.integers(0, 2, rows)
    frame = pd.DataFrame(data)
    return frame, FeatureSchema(
        target=Target(name="y", positive=[1], negative=[0]), features=features
    )


def pandera_validate(frame: pd.DataFrame, schema: FeatureSchema) -> None:
    import pandera.pandas as pa

    columns = {}
    for f in schema.features:
        if f.type == "categorical":
            columns[f.name] = pa.Column(str, pa.Check.isin(f.categories or []))
        else:
            checks = [pa.Check.ge(f.min), pa.Check.le(f.max)]
            columns[f.name] = pa.Column(float, checks=checks)
    pa.DataFrameSchema(columns).validate(frame[schema.feature_names], lazy=True)


def timed(fn: object) -> tuple[float, int]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        took = time.perf_counter() - t0
    return took, len(caught)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=2000)
    parser.add_argument("--baseline-cols", type=int, default=100)
    args = parser.parse_args()
    frame, schema = make(args.rows, args.cols)
    small = FeatureSchema(target=schema.target, features=schema.features[: args.baseline_cols])
    small_frame = frame[[*small.feature_names, "y"]]
    rows = [
        (
            "pandera (baseline)",
            args.baseline_cols,
            *timed(lambda: pandera_validate(small_frame, small)),
        ),
        (
            "this project",
            args.baseline_cols,
            *timed(lambda: validate_training_frame(small_frame, small)),
        ),
        ("this project", args.cols, *timed(lambda: validate_training_frame(frame, schema))),
    ]
    base = rows[0][2]
    print(f"validation of {args.rows:,} rows")
    print("| implementation | columns | wall s | warnings | speed-up vs baseline (same columns) |")
    print("|---|---|---|---|---|")
    for name, cols, took, warns in rows:
        ratio = f"{base / took:.1f}x" if cols == args.baseline_cols and took else ""
        print(f"| {name} | {cols:,} | {took:.2f} | {warns} | {ratio} |")


if __name__ == "__main__":
    main()
