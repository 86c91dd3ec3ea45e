"""Evaluation plots (PNG): ROC, calibration curve, KS, score distribution by class, SHAP summary,
and the feature effects of an additive model.

Each function returns a matplotlib Figure; :func:`save_all` writes them all into a directory for
MLflow artifacts and the model card.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never open a window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.scoring.additive import AdditiveTables


def roc_plot(y: NDArray[np.int64], curves: dict[str, NDArray[np.float64]]) -> Figure:
    """ROC curves of one or more models on the same labels."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, p in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration_plot(y: NDArray[np.int64], curves: dict[str, NDArray[np.float64]]) -> Figure:
    """Observed default rate against mean predicted PD (quantile bins)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for name, p in curves.items():
        obs, pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(pred, obs, "o-", label=name)
        top = max(top, float(obs.max()), float(pred.max()))
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="perfect")
    ax.set(xlabel="Mean predicted PD", ylabel="Observed default rate", title="Calibration")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def ks_plot(y: NDArray[np.int64], p: NDArray[np.float64]) -> Figure:
    """Cumulative PD distributions of goods and bads with the KS distance marked."""
    grid = np.linspace(0, 1, 501)
    bad = np.searchsorted(np.sort(p[y == 1]), grid, side="right") / max((y == 1).sum(), 1)
    good = np.searchsorted(np.sort(p[y == 0]), grid, side="right") / max((y == 0).sum(), 1)
    k = int(np.argmax(np.abs(good - bad)))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(grid, good, label="goods")
    ax.plot(grid, bad, label="bads")
    ax.vlines(
        grid[k],
        bad[k],
        good[k],
        colors="k",
        linestyles=":",
        label=f"KS {abs(good[k] - bad[k]):.3f}",
    )
    ax.set(xlabel="Predicted PD", ylabel="Cumulative share", title="Kolmogorov-Smirnov")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def score_distribution_plot(
    y: NDArray[np.int64], points: NDArray[np.float64], cutoffs: tuple[float, float]
) -> Figure:
    """Histogram of score points by class, with the decision cut-offs."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    bins = np.linspace(points.min(), points.max(), 40).tolist()
    ax.hist(points[y == 0], bins=bins, alpha=0.6, label="goods", density=True)
    ax.hist(points[y == 1], bins=bins, alpha=0.6, label="bads", density=True)
    for c, name in zip(cutoffs, ("decline below", "approve above"), strict=True):
        ax.axvline(c, color="k", ls="--", lw=0.8)
        ax.text(c, ax.get_ylim()[1] * 0.95, f" {name} {c:.0f}", fontsize=8)
    ax.set(xlabel="Score points", ylabel="Density", title="Score distribution by class")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def shap_summary_plot(contrib: NDArray[np.float64], features: pd.DataFrame) -> Figure:
    """SHAP beeswarm from LightGBM's ``pred_contrib`` (bias column already dropped)."""
    with warnings.catch_warnings():
        # shap calls a matplotlib colormap API (at import) that matplotlib plans to deprecate.
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        import shap  # deferred: heavy import, only needed here

        # An explicit generator: the beeswarm's jitter is reproducible and never depends on (or
        # warns about) NumPy's global RNG that some library may have seeded.
        shap.summary_plot(
            contrib,
            features,
            show=False,
            max_display=15,
            plot_size=(8, 6),
            rng=np.random.default_rng(0),
        )
    fig = plt.gcf()
    fig.suptitle("SHAP summary (log-odds of default)")
    fig.tight_layout()
    return fig


def feature_effects_plot(
    tables: AdditiveTables,
    schema: FeatureSchema,
    x: NDArray[np.float64],
    points_per_log_odds: float,
    max_features: int = 12,
) -> Figure:
    """Score points each feature value adds or removes, for an additive model (its step
    functions, the same for every applicant), the features with the widest range first."""
    effects = []
    for j, (table, feature) in enumerate(zip(tables.tables, schema.features, strict=True)):
        pts = [points_per_log_odds * v for v in table.values]
        if table.slopes is not None:  # linear terms (logistic regression): on a grid
            column = x[:, j][~np.isnan(x[:, j])]
            grid = np.linspace(column.min(), column.max(), 200) if len(column) else np.zeros(1)
            pts = (points_per_log_odds * table.column(grid)).tolist()
        if max(pts) - min(pts) > 1e-9:
            effects.append((max(pts) - min(pts), j, table, feature, pts))
    effects.sort(key=lambda e: -e[0])
    shown = effects[:max_features]
    cols = 3
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    for ax, (_, j, table, feature, pts) in zip(axes.flat, shown, strict=False):
        if table.thresholds is None:  # categorical: one bar per category
            labels = [str(c)[:18] for c in feature.categories or []]
            ax.bar(range(len(pts)), pts, color=["tab:red" if p < 0 else "tab:green" for p in pts])
            ax.set_xticks(range(len(pts)), labels, rotation=35, ha="right", fontsize=7)
        elif table.slopes is not None:  # numeric with linear terms: the line over the range
            column = x[:, j][~np.isnan(x[:, j])]
            ax.plot(np.linspace(column.min(), column.max(), len(pts)), pts)
        else:  # numeric: the step function over the observed range
            column = x[:, j][~np.isnan(x[:, j])]
            lo = float(min(column.min(), table.thresholds[0]))
            hi = float(max(column.max(), table.thresholds[-1]))
            ax.step([lo, *table.thresholds, hi], [*pts, pts[-1]], where="post")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(feature.label, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle("Feature effects: score points by value (additive model)")
    fig.supylabel("points")
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    """A figure as PNG bytes (tight layout, 90 dpi, for reports), then closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def save(fig: Figure, path: Path) -> Path:
    """Save and close a figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
