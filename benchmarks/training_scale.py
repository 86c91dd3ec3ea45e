"""Training wall time and peak memory at scale: this project's LightGBM fitting step
(schema-driven encoding from a DataFrame, native categoricals, monotone constraints, early
stopping, Platt calibration) against plain ``lightgbm.train`` on the same arrays with the same
parameters and number of rounds (the baseline). Each measurement runs in a fresh subprocess so
peak RSS is its own. Also times the full ``train()`` pipeline (validation, scorecard, plots,
MLflow logging and registration on the embedded store) for reference.

    .venv/bin/python benchmarks/training_scale.py [--rows 100000 1000000] [--full-pipeline]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SEED = 11


def _child(kind: str, data_path: str, rounds: int) -> dict[str, float]:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from credit_scoring.data.synthetic import synthetic_schema
    from credit_scoring.data.validation import validate_training_frame
    from credit_scoring.features.encoding import FeatureEncoder
    from credit_scoring.training import lgbm as ours

    frame = pd.read_parquet(data_path)
    schema = synthetic_schema()
    start = time.perf_counter()
    result: dict[str, float] = {}
    if kind == "pipeline":
        import os

        from credit_scoring.config import Settings
        from credit_scoring.training.pipeline import train

        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        with tempfile.TemporaryDirectory() as home:
            schema_file = Path(home) / "schema.yaml"
            schema.dump(schema_file)
            out = train(
                data_path,
                schema_path=schema_file,
                settings=Settings(home=Path(home), tracking_uri=None),
            )
            result["auc"] = out.metrics["test_auc"]
    else:
        data = validate_training_frame(frame, schema)
        enc = FeatureEncoder(schema)
        x, y = enc.encode_frame(data.features), data.target.to_numpy()
        idx = np.arange(len(y))
        fit, valid = train_test_split(idx, test_size=0.2, stratify=y, random_state=SEED)
        params = ours.lgbm_params(schema, SEED, len(fit))
        if kind == "ours":
            # Measured from the encoded matrix on, like the baseline, plus calibration.
            start = time.perf_counter()
            booster = ours.fit_lightgbm(enc, x[fit], y[fit], x[valid], y[valid], seed=SEED)
            ours.fit_calibration(np.asarray(booster.predict(x[valid], raw_score=True)), y[valid])
            result["rounds"] = booster.current_iteration()
        else:
            start = time.perf_counter()
            ds = lgb.Dataset(x[fit], label=y[fit], categorical_feature=enc.categorical_indices)
            booster = lgb.train(params, ds, num_boost_round=rounds)
            result["rounds"] = booster.current_iteration()
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _measure(kind: str, data_path: str, rounds: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, data_path, str(rounds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--full-pipeline",
        action="store_true",
        help="Also time train() end to end (slow at 1M rows).",
    )
    args = parser.parse_args()
    from credit_scoring.data.synthetic import generate

    console = Console(width=160)
    table = Table(
        title="Training at scale: this project vs plain lightgbm.train (same arrays, "
        "same params, same rounds)"
    )
    for col in ("rows", "variant", "rounds", "wall s", "peak RSS MB", "time ratio", "memory ratio"):
        table.add_column(col, justify="right" if col not in ("variant",) else "left")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            path = str(Path(tmp) / f"synthetic_{n}.parquet")
            generate(n, seed=SEED).to_parquet(path)
            with console.status(f"{n:,} rows: this project's fitting step"):
                ours = _measure("ours", path, 0)
            with console.status(f"{n:,} rows: plain lightgbm.train"):
                base = _measure("baseline", path, int(ours["rounds"]))
            rows = [("plain lightgbm.train (baseline)", base), ("this project", ours)]
            if args.full_pipeline:
                with console.status(f"{n:,} rows: full train() pipeline"):
                    rows.append(("full train() pipeline", _measure("pipeline", path, 0)))
            for name, r in rows:
                table.add_row(
                    f"{n:,}",
                    name,
                    str(int(r.get("rounds", 0))) or "",
                    f"{r['seconds']:.1f}",
                    f"{r['peak_rss_mb']:.0f}",
                    f"{r['seconds'] / base['seconds']:.2f}x",
                    f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x",
                )
    console.print(table)


if __name__ == "__main__":
    main()
