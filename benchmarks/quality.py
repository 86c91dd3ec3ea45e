"""German Credit quality: 5x repeated 5-fold stratified CV of LightGBM (this project's fitting
procedure: early stopping + Platt calibration; additive, as by default, and with feature
interactions), the WoE scorecard and a plain logistic regression
on one-hot features (the baseline), on identical folds. Prints mean and sd per metric.

    .venv/bin/python benchmarks/quality.py [--repeats 5] [--folds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.data.validation import validate_training_frame
from credit_scoring.evaluation.metrics import METRICS, classification_metrics
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.scaling import ScoreScaling
from credit_scoring.training.lgbm import fit_calibration, fit_lightgbm
from credit_scoring.training.scorecard import fit_scorecard, scorecard_pd

SEED = 42


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    schema = german_credit_schema()
    data = validate_training_frame(load_german_credit(), schema)
    frame, y = data.features, data.target.to_numpy()
    enc = FeatureEncoder(schema)
    x = enc.encode_frame(frame)
    cats = [f.name for f in schema.categorical]
    nums = [f.name for f in schema.numeric]

    def lightgbm(tr: np.ndarray, te: np.ndarray, additive: bool = True) -> np.ndarray:
        fit, valid = train_test_split(tr, test_size=0.2, stratify=y[tr], random_state=SEED)
        booster = fit_lightgbm(
            enc, x[fit], y[fit], x[valid], y[valid], seed=SEED, additive=additive
        )
        cal = fit_calibration(np.asarray(booster.predict(x[valid], raw_score=True)), y[valid])
        return cal.apply(np.asarray(booster.predict(x[te], raw_score=True)))

    def lightgbm_interactions(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        return lightgbm(tr, te, additive=False)

    def scorecard(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        card = fit_scorecard(schema, frame.iloc[tr], y[tr], ScoreScaling())
        return scorecard_pd(card, frame.iloc[te])

    def logistic(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        model = make_pipeline(
            ColumnTransformer(
                [
                    ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
                    ("num", StandardScaler(), nums),
                ]
            ),
            LogisticRegression(max_iter=2000),
        )
        model.fit(frame.iloc[tr], y[tr])
        return np.asarray(model.predict_proba(frame.iloc[te])[:, 1])

    models = {
        "LightGBM + Platt, additive (this project)": lightgbm,
        "LightGBM + Platt, with interactions": lightgbm_interactions,
        "WoE scorecard (optbinning)": scorecard,
        "Logistic regression, one-hot (baseline)": logistic,
    }
    splitter = RepeatedStratifiedKFold(
        n_splits=args.folds, n_repeats=args.repeats, random_state=SEED
    )
    folds = list(splitter.split(x, y))
    table = Table(
        title=f"German Credit, {args.repeats}x{args.folds}-fold stratified CV "
        f"(mean ± sd over {len(folds)} folds)"
    )
    table.add_column("model")
    for m in METRICS:
        table.add_column(m, justify="right")
    table.add_column("fit s/fold", justify="right")
    for name, fn in models.items():
        scores: dict[str, list[float]] = {m: [] for m in METRICS}
        start = time.perf_counter()
        for tr, te in folds:
            for m, v in classification_metrics(y[te], fn(tr, te)).items():
                scores[m].append(v)
        per_fold = (time.perf_counter() - start) / len(folds)
        table.add_row(
            name,
            *(f"{np.mean(scores[m]):.3f} ± {np.std(scores[m], ddof=1):.3f}" for m in METRICS),
            f"{per_fold:.2f}",
        )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
