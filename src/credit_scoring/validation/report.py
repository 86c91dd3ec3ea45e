"""The HTML model card: metrics, plots, the gate table, fairness tables and a data summary."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from credit_scoring.scoring.model import CreditModel

PLOTS = {
    "roc.png": "ROC curve",
    "calibration.png": "Calibration",
    "ks.png": "Kolmogorov-Smirnov",
    "score_distribution.png": "Score distribution by class",
    "shap_summary.png": "SHAP summary",
    "feature_effects.png": "Feature effects (points by value)",
    "model_choice.png": "Model choice: paired CV AUC differences to the best family",
}


def _plots(directory: Path) -> list[tuple[str, str]]:
    out = []
    for file, title in PLOTS.items():
        path = directory / file
        if path.is_file():
            out.append((title, base64.b64encode(path.read_bytes()).decode("ascii")))
    return out


def render_model_card(
    report: dict[str, Any],
    model: CreditModel,
    params: dict[str, str],
    run_metrics: dict[str, float],
    plots_dir: Path,
) -> str:
    """Self-contained HTML (plots embedded) for one validated version."""
    env = Environment(
        loader=PackageLoader("credit_scoring.validation", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    scaling = model.scaling
    return env.get_template("model_card.html.j2").render(
        report=report,
        schema=model.schema,
        scaling=scaling,
        cutoff_points={
            "approve": scaling.points(scaling.approve_below_pd).item(),
            "decline": scaling.points(scaling.decline_above_pd).item(),
        },
        params=params,
        cv={k: v for k, v in sorted(run_metrics.items()) if k.startswith("cv_")},
        scorecard={k: v for k, v in sorted(run_metrics.items()) if k.startswith("scorecard_")},
        plots=_plots(plots_dir),
    )
