"""Model choice by evidence: every candidate family on the same repeated stratified folds,
paired differences to the best, and an explicit policy.

All candidates (``training.candidates``) are fitted and scored on identical folds of the training
part (the holdout is never touched), so their AUCs are paired fold by fold. For each family the
difference to the best family's AUC is averaged over the folds; its standard error uses the
Nadeau & Bengio (2003) correction for the overlap of training sets in repeated CV,
``sqrt((1/J + n_test/n_train) * var(d))`` over the ``J`` folds, since the naive ``sd/sqrt(J)``
is far too small.

Policy (configurable): among the compared families, the **most interpretable one whose mean AUC
is within a tolerance of the best**, where the tolerance is ``selection_se`` paired standard
errors plus ``selection_tolerance`` AUC (defaults: one standard error, no absolute slack).
Every candidate is servable (the logistic regression too, compiled like the scorecard: see
``training.candidates``), so "the best" is the best of all candidates and the selected model is
always within the tolerance of it; a family that could win the comparison but not be served
would make that promise empty (it did: on ISLR's ``Default`` the logistic regression, then a
reference only, beat every served family). The table, a plot and the reason are logged with the
run and shown in the model card.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.model_selection import RepeatedStratifiedKFold

from credit_scoring.evaluation.metrics import classification_metrics
from credit_scoring.scoring.calibration import Calibration
from credit_scoring.training.candidates import SERVED, TrainingData, fit_family
from credit_scoring.training.logistic import compile_logistic
from credit_scoring.training.scorecard_booster import compile_scorecard
from credit_scoring.training.tuning import Tuned, tune

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Selection:
    """The comparison table and the chosen family."""

    table: pd.DataFrame
    selected: str
    best: str
    reason: str
    fold_auc: pd.DataFrame  # folds x families

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: ``cv_<family>_auc_mean``, ``..._diff``, ``..._se``."""
        out: dict[str, float] = {}
        for row in self.table.to_dict("records"):
            out[f"cv_{row['family']}_auc_mean"] = float(row["auc_mean"])
            out[f"cv_{row['family']}_auc_diff_to_best"] = float(row["diff_to_best"])
            out[f"cv_{row['family']}_auc_diff_se"] = float(row["diff_se"])
        return out


def compare_candidates(
    data: TrainingData,
    rows: np.ndarray,
    *,
    families: Sequence[str] = SERVED,
    folds: int = 5,
    repeats: int = 2,
    seed: int = 42,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Per-fold AUC of every family (folds x families) and mean CV metrics per family."""
    y = data.y[rows]
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    auc: dict[str, list[float]] = {f: [] for f in families}
    sums: dict[str, dict[str, list[float]]] = {f: {} for f in families}
    seconds: dict[str, float] = dict.fromkeys(families, 0.0)
    splits = list(splitter.split(np.zeros(len(y)), y))
    for k, (tr, te) in enumerate(splits, 1):
        if progress:
            progress(f"Comparing candidates: fold {k}/{len(splits)}")
        train, test = rows[tr], rows[te]
        for family in families:
            start = time.perf_counter()
            fitted = fit_family(family, data, train)
            result = classification_metrics(data.y[test], fitted.predict(test))
            seconds[family] += time.perf_counter() - start
            auc[family].append(result["auc"])
            for m, v in result.items():
                sums[family].setdefault(m, []).append(v)
    cv = {
        f: {
            **{f"{m}_mean": float(np.mean(v)) for m, v in sums[f].items()},
            **{
                f"{m}_std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
                for m, v in sums[f].items()
            },
            "fit_seconds": seconds[f] / len(splits),
        }
        for f in families
    }
    frame = pd.DataFrame(auc)
    frame.attrs["test_share"] = 1.0 / folds
    return frame, cv


def corrected_se(diffs: np.ndarray, test_share: float) -> float:
    """Nadeau-Bengio corrected standard error of the mean of repeated-CV differences."""
    if len(diffs) < 2:
        return 0.0
    ratio = test_share / (1.0 - test_share)
    return math.sqrt((1.0 / len(diffs) + ratio) * float(np.var(diffs, ddof=1)))


def select(
    fold_auc: pd.DataFrame,
    cv: dict[str, dict[str, float]],
    *,
    se_multiplier: float = 1.0,
    tolerance: float = 0.0,
    eligible: Sequence[str] = SERVED,
) -> Selection:
    """Apply the policy of the module docstring to a per-fold AUC table."""
    test_share = float(fold_auc.attrs.get("test_share", 0.2))
    candidates = [f for f in SERVED if f in eligible and f in fold_auc.columns]
    if not candidates:
        raise ValueError(f"no eligible family among {list(fold_auc.columns)}")
    means = fold_auc.mean()
    best = max(candidates, key=lambda f: means[f])
    rows = []
    for family in fold_auc.columns:
        d = (fold_auc[family] - fold_auc[best]).to_numpy()
        se = corrected_se(d, test_share)
        allowed = se_multiplier * se + tolerance
        rows.append(
            {
                "family": family,
                "auc_mean": float(means[family]),
                "auc_sd": float(fold_auc[family].std(ddof=1)) if len(fold_auc) > 1 else 0.0,
                "diff_to_best": float(d.mean()),
                "diff_se": se,
                "wins_vs_best": f"{int((d > 0).sum())}/{len(d)}",
                "within_tolerance": bool(family in candidates and d.mean() >= -allowed),
                "brier_mean": cv.get(family, {}).get("brier_mean", math.nan),
                "ks_mean": cv.get(family, {}).get("ks_mean", math.nan),
                "fit_seconds": cv.get(family, {}).get("fit_seconds", math.nan),
                "served": family in candidates,  # selectable under ``eligible``
            }
        )
    table = pd.DataFrame(rows)
    within = [f for f in candidates if bool(table.set_index("family").at[f, "within_tolerance"])]
    selected = within[0]  # SERVED is ordered from the most interpretable
    table["selected"] = table["family"] == selected
    picked = table.set_index("family").loc[selected]
    reason = (
        f"{selected}: the most interpretable family within {se_multiplier:g} paired SE"
        + (f" + {tolerance:g}" if tolerance else "")
        + f" of the best ({best}, CV AUC {means[best]:.4f}); "
        f"{selected} CV AUC {picked['auc_mean']:.4f}, difference {picked['diff_to_best']:+.4f} "
        f"± {picked['diff_se']:.4f} over {len(fold_auc)} folds"
    )
    return Selection(table, selected, best, reason, fold_auc)


def selection_plot(selection: Selection) -> Figure:
    """Paired AUC differences to the best family per fold (dots) with mean ± 1 corrected SE."""
    import matplotlib.pyplot as plt

    table = selection.table
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(table) + 1.5))
    for k, row in enumerate(table.to_dict("records")):
        d = selection.fold_auc[row["family"]] - selection.fold_auc[selection.best]
        ax.scatter(d, np.full(len(d), k), s=10, alpha=0.4, color="tab:gray")
        color = "tab:green" if row["selected"] else "tab:blue"
        ax.errorbar(
            float(row["diff_to_best"]),
            k,
            xerr=float(row["diff_se"]),
            fmt="o",
            color=color,
            capsize=4,
        )
    ax.axvline(0, color="k", lw=0.7)
    ax.set_yticks(
        range(len(table)),
        [
            f"{f}{' (selected)' if s else ''}"
            for f, s in zip(table["family"], table["selected"], strict=True)
        ],
    )
    ax.set_xlabel(f"CV AUC minus {selection.best} (paired by fold; bar = 1 corrected SE)")
    ax.set_title("Model choice by evidence")
    fig.tight_layout()
    return fig


@dataclass
class Choice:
    """The served model of a run: its family, booster and calibration, and the evidence."""

    family: str
    booster: Any
    calibration: Calibration
    pairs: list[tuple[str, str]]
    selection: Selection | None
    cv: dict[str, float]  # the served family's ``cv_<metric>_mean``/``_std``
    card: Any = None
    tuned: Tuned | None = None


def choose_and_fit(
    data: TrainingData,
    train: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    *,
    family: str = "auto",
    fallback: str = "additive",
    compare: bool = True,
    families: Sequence[str] = SERVED,
    folds: int = 5,
    repeats: int = 2,
    se_multiplier: float = 1.0,
    tolerance: float = 0.0,
    tune_budget: tuple[int, float] | None = None,
    progress: Progress | None = None,
) -> Choice:
    """Compare the candidates on ``train`` (if ``compare``), pick one by the policy (or take
    ``family``; ``fallback`` without a comparison), fit it on ``split`` = (fit, valid).

    ``tune_budget`` = (trials, seconds): tune the chosen LightGBM family first
    (``training.tuning``, inside ``train`` only)."""
    selection = None
    cv: dict[str, float] = {}
    if compare:
        fold_auc, per_family = compare_candidates(
            data,
            train,
            families=families,
            folds=folds,
            repeats=repeats,
            seed=data.seed,
            progress=progress,
        )
        selection = select(fold_auc, per_family, se_multiplier=se_multiplier, tolerance=tolerance)
    chosen = family if family != "auto" else (selection.selected if selection else fallback)
    if selection is not None and chosen in selection.table["family"].to_numpy():
        cv = {f"cv_{k}": v for k, v in per_family[chosen].items() if k.endswith(("_mean", "_std"))}
    tuned = None
    if tune_budget is not None:
        if progress:
            progress(f"Tuning {chosen} (Optuna, {tune_budget[0]} trials / {tune_budget[1]:g} s)")
        tuned = tune(chosen, data, train, trials=tune_budget[0], timeout_s=tune_budget[1])
        if tuned is not None:
            data = replace(data, lgbm_overrides={**data.lgbm_overrides, **tuned.params})
    if progress:
        progress(f"Training the selected model ({chosen})")
    fitted = fit_family(chosen, data, train, split)
    names = data.encoder.names
    pairs = [(names[i], names[j]) for i, j in fitted.pairs]
    if chosen == "scorecard":
        booster = compile_scorecard(
            fitted.card, data.schema, data.frame.iloc[split[0]], data.encoder
        )
        return Choice(chosen, booster, Calibration(), pairs, selection, cv, fitted.card)
    if chosen == "logistic":
        assert fitted.logistic is not None
        booster = compile_logistic(fitted.logistic, data.schema, data.encoder, data.x[train])
        return Choice(chosen, booster, Calibration(), pairs, selection, cv)
    assert fitted.booster is not None and fitted.calibration is not None
    return Choice(chosen, fitted.booster, fitted.calibration, pairs, selection, cv, tuned=tuned)
