"""Champion/challenger as a paired test on rows neither model trained on.

The challenger's holdout rows are scored by both models. Rows the champion was trained on (its
run's row fingerprints, ``data.fingerprint``) are dropped first: otherwise a champion trained on
another split of the same data would be judged partly on its own training rows, which flatters
it. The differences ``challenger - champion`` get confidence intervals from DeLong's test (AUC)
and the paired bootstrap (KS, Brier), and non-inferiority is judged on the bound: the challenger
passes AUC when the lower bound of the difference is at least ``-gate_noninferiority_margin``.

Rows outside the champion's declared ranges and categories the champion never saw do not stop the
comparison: they are scored as the batch/pyfunc path scores them (values beyond the last split
fall in the last bin, unseen categories count as missing) and counted in the report. The scoring
API would answer 422 for such rows instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from credit_scoring.config import Settings
from credit_scoring.data.fingerprint import ARTIFACT_DIR, ARTIFACT_FILE, row_fingerprints
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.evaluation.statistics import (
    PairedDifference,
    delong,
    non_inferior,
    paired_bootstrap,
)
from credit_scoring.registry.gateway import RegistryGateway
from credit_scoring.registry.promotion import PRODUCTION
from credit_scoring.scoring.model import CreditModel
from credit_scoring.validation.checks import Check

MIN_ROWS_PER_CLASS = 10


@dataclass
class Comparison:
    """What the champion comparison measured (the report's ``champion`` section)."""

    champion_version: int | None
    checks: list[Check]
    rows_compared: int = 0
    champion_training_rows_dropped: int | None = None
    out_of_range_rows: int = 0
    unseen_category_rows: int = 0
    differences: list[PairedDifference] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "champion_version": self.champion_version,
            "rows_compared": self.rows_compared,
            "champion_training_rows_dropped": self.champion_training_rows_dropped,
            "out_of_range_rows": self.out_of_range_rows,
            "unseen_category_rows": self.unseen_category_rows,
            "differences": [d.as_dict() for d in self.differences],
            "note": self.note,
        }


def _unjudged(version: int | None, note: str) -> Comparison:
    check = Check("champion/challenger", "champion", None, None, None, note)
    return Comparison(version, [check], note=note)


def out_of_schema_rows(frame: pd.DataFrame, schema: FeatureSchema) -> tuple[int, int]:
    """Rows with a numeric value outside the schema's range, rows with an unknown category."""
    out_of_range = np.zeros(len(frame), dtype=bool)
    unseen = np.zeros(len(frame), dtype=bool)
    for f in schema.features:
        col = frame[f.name]
        if f.type == "numeric":
            values = pd.to_numeric(col, errors="coerce")
            bad = col.notna() & values.isna()
            if f.min is not None:
                bad |= values < f.min
            if f.max is not None:
                bad |= values > f.max
            out_of_range |= bad.to_numpy()
        else:
            known = set(f.categories or [])
            unseen |= (col.notna() & ~col.astype(str).isin(known)).to_numpy()
    return int(out_of_range.sum()), int(unseen.sum())


def _champion_training_rows(
    registry: RegistryGateway, run_id: str, root: Path
) -> np.ndarray | None:
    try:
        path = registry.download_artifact(run_id, f"{ARTIFACT_DIR}/{ARTIFACT_FILE}", root)
    except (MlflowException, OSError):
        return None
    return np.load(path)


def compare_with_champion(
    registry: RegistryGateway,
    settings: Settings,
    version: int,
    holdout: pd.DataFrame,
    y: np.ndarray,
    p_challenger: np.ndarray,
    root: Path,
) -> Comparison:
    """The champion/challenger checks for ``version`` (see the module docstring)."""
    champ = registry.alias_version(PRODUCTION)
    if champ is None:
        return _unjudged(None, "no production version yet: nothing to compare against")
    if champ == version:
        return _unjudged(champ, "this version is the champion")
    champion = CreditModel.from_dir(registry.download_model(champ, root / "champion"))
    missing = [c for c in champion.schema.feature_names if c not in holdout.columns]
    if missing:
        return _unjudged(
            champ, f"champion v{champ} needs columns absent from this holdout: {missing[:5]}"
        )
    holdout = holdout.reset_index(drop=True)
    x = champion.encoder.encode_frame(holdout)
    keep = np.ones(len(y), dtype=bool)
    dropped: int | None = None
    champ_run = str(registry.version(champ).run_id)
    trained = _champion_training_rows(registry, champ_run, root / "champion-split")
    if trained is not None:
        keep = ~np.isin(row_fingerprints(x, y), trained)
        dropped = int((~keep).sum())
    y_k = y[keep]
    counts = np.bincount(y_k, minlength=2) if len(y_k) else np.zeros(2, dtype=int)
    if counts.min() < MIN_ROWS_PER_CLASS:
        note = (
            f"only {len(y_k)} holdout rows were not in champion v{champ}'s training data "
            f"({counts[1]} defaults): too few to compare"
        )
        return _unjudged(champ, note)
    p_champion = _score(champion, x[keep])
    out_of_range, unseen = out_of_schema_rows(holdout[keep], champion.schema)
    return _judge(
        settings, champ, y_k, p_challenger[keep], p_champion, dropped, out_of_range, unseen
    )


def _score(model: CreditModel, x: np.ndarray) -> np.ndarray:
    # The batch/pyfunc path: encoded matrix -> booster -> calibration.
    return model.predict_proba_matrix(x)


def _judge(
    settings: Settings,
    champ: int,
    y: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    dropped: int | None,
    out_of_range: int,
    unseen: int,
) -> Comparison:
    level = settings.gate_confidence
    n_boot = settings.gate_bootstrap_samples
    diffs = [
        delong(y, p_challenger, p_champion, level),
        paired_bootstrap(y, p_challenger, p_champion, "ks", n_boot=n_boot, level=level),
        paired_bootstrap(y, p_challenger, p_champion, "brier", n_boot=n_boot, level=level),
    ]
    margins = {
        "auc": settings.gate_noninferiority_margin,
        "ks": settings.gate_ks_margin,
        "brier": settings.gate_brier_margin,
    }
    rows = (
        f"{len(y)} rows neither model trained on"
        if dropped is not None
        else f"{len(y)} holdout rows (champion's training rows unknown: run predates "
        "row fingerprints)"
    )
    extra = []
    if out_of_range:
        extra.append(f"{out_of_range} outside the champion's ranges")
    if unseen:
        extra.append(f"{unseen} with categories it never saw")
    scored = f"; scored as batch scoring would: {', '.join(extra)}" if extra else ""
    checks = []
    for d in diffs:
        margin = margins[d.metric]
        higher = d.metric != "brier"
        bound, limit = (d.lower, -margin) if higher else (d.upper, margin)
        op = ">=" if higher else "<="
        checks.append(
            Check(
                name=f"{d.metric} vs champion v{champ}: {d.method} bound {op} {limit:+g}",
                category="champion",
                passed=non_inferior(d, margin),
                value=bound,
                threshold=limit,
                detail=f"challenger {d.challenger:.4f} vs champion {d.champion:.4f}: "
                f"difference {d.difference:+.4f} [{d.lower:+.4f}, {d.upper:+.4f}] "
                f"({level:.0%} CI, p={d.p_value:.3g}) on {rows}{scored}",
            )
        )
    return Comparison(
        champion_version=champ,
        checks=checks,
        rows_compared=len(y),
        champion_training_rows_dropped=dropped,
        out_of_range_rows=out_of_range,
        unseen_category_rows=unseen,
        differences=diffs,
    )
