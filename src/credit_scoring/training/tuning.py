"""Optional hyper-parameter tuning of the LightGBM families (``train --tune``), off by default.

Optuna's TPE sampler searches learning rate, leaves, minimum leaf size, L2 penalty and feature
fraction within a budget (``tune_trials`` trials or ``tune_timeout_s`` seconds, whichever ends
first). Each trial is scored by stratified CV **inside the training part** (the rows the final
model is fitted on, never the holdout), so the holdout metrics and the gate stay honest: the
search is nested in the train/holdout split. The model-choice comparison runs with the default
parameters; tuning then refines the family it selected (a scorecard is not tuned).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from credit_scoring.evaluation.statistics import fast_auc
from credit_scoring.training.candidates import LIGHTGBM_FAMILIES, TrainingData, fit_family

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuned:
    """The best parameters found and their inner-CV AUC (and the untuned one, same folds)."""

    params: dict[str, Any]
    inner_auc: float
    default_auc: float
    trials: int


def tune(
    family: str,
    data: TrainingData,
    rows: np.ndarray,
    *,
    trials: int = 30,
    timeout_s: float = 120.0,
    folds: int = 3,
) -> Tuned | None:
    """Search LightGBM parameters for ``family`` on ``rows``; ``None`` for a scorecard."""
    if family not in LIGHTGBM_FAMILIES:
        return None
    import optuna  # deferred: only with --tune

    splits = list(
        StratifiedKFold(folds, shuffle=True, random_state=data.seed).split(rows, data.y[rows])
    )

    def inner_auc(params: dict[str, Any]) -> float:
        candidate = replace(data, lgbm_overrides={**data.lgbm_overrides, **params})
        scores = []
        for tr, te in splits:
            p = fit_family(family, candidate, rows[tr]).predict(rows[te])
            scores.append(fast_auc(data.y[rows[te]], p))
        return float(np.mean(scores))

    def objective(trial: optuna.Trial) -> float:
        return inner_auc(
            {
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
                "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 200, log=True),
                "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
                "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            }
        )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=data.seed)
    )
    study.optimize(objective, n_trials=trials, timeout=timeout_s)
    default = inner_auc({})
    log.info("tuning %s: inner CV AUC %.4f (defaults %.4f)", family, study.best_value, default)
    return Tuned(dict(study.best_params), float(study.best_value), default, len(study.trials))
