"""The served model artifact: booster + calibration + schema + scaling, and its fast path.

:class:`CreditModel` scores plain dicts with numpy and the LightGBM booster directly (no pandas on
the hot path) and explains each decision with LightGBM's own SHAP contributions
(``pred_contrib``) or, for an additive booster, exact lookup tables (``scoring.additive``). It is
stored inside an MLflow pyfunc model directory (``artifacts/booster.txt`` and
``artifacts/credit_model.json``), so ``mlflow.pyfunc.load_model`` and ``mlflow models serve``
work too, through ``scoring.pyfunc.CreditScoringPyfunc``. Its parts live next to it:
``scoring.calibration`` (Platt), ``scoring.scaling`` (points and decisions),
``scoring.grades`` (the master scale: PD -> rating grade),
``scoring.single_row`` (LightGBM's one-row C-API path). Nothing here imports training or mlflow.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import yaml
from numpy.typing import NDArray

from credit_scoring.data.schema import FeatureSchema
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.scoring.additive import AdditiveTables
from credit_scoring.scoring.calibration import Calibration
from credit_scoring.scoring.grades import MasterScale
from credit_scoring.scoring.pairs import PairTables
from credit_scoring.scoring.reason_text import Side, adverse_text, side_of, sides_by_interval
from credit_scoring.scoring.scaling import DECISIONS, ScoreScaling
from credit_scoring.scoring.single_row import PREDICT_CONTRIB, PREDICT_RAW_SCORE, SingleRowPredictor

BOOSTER_FILE = "booster.txt"
METADATA_FILE = "credit_model.json"
FORMAT_VERSION = 1
#: Reason texts kept per model (see CreditModel._reason_text).
REASON_TEXT_CACHE = 4096


class ModelLoadError(RuntimeError):
    """A model directory cannot be served (missing files, signature/schema mismatch...)."""


@dataclass(frozen=True)
class Reason:
    """One reason code: a feature's signed contribution to the applicant's risk."""

    feature: str
    value: Any
    contribution: float  # log-odds of default; > 0 raises risk
    points: float  # signed score-point impact; < 0 lowers the score
    reason: str


@dataclass(frozen=True)
class ScoreResult:
    """Probability of default, score points, decision, adverse reason codes and rating grade."""

    probability: float
    score: float
    decision: str
    reasons: list[Reason] = field(default_factory=list)
    grade: str = ""


class CreditModel:
    """A trained, calibrated, scaled credit model ready to score applicants."""

    def __init__(
        self,
        booster: lgb.Booster,
        schema: FeatureSchema,
        scaling: ScoreScaling,
        calibration: Calibration,
        input_example: list[dict[str, Any]] | None = None,
        master_scale: MasterScale | None = None,
    ) -> None:
        self.booster = booster
        self.schema = schema
        self.scaling = scaling
        self.calibration = calibration
        #: PD bands -> rating grades (versions saved before grades existed get the default).
        self.master_scale = master_scale or MasterScale()
        self.input_example = input_example or []
        self.encoder = FeatureEncoder(schema)
        if booster.feature_name() != self.encoder.names:
            raise ModelLoadError(
                f"booster features {booster.feature_name()} do not match the schema's "
                f"{self.encoder.names}"
            )
        self._categorical = frozenset(self.encoder.categorical_indices)
        n = len(self.encoder.names)
        self._contrib_one = SingleRowPredictor(booster, PREDICT_CONTRIB, n)
        self._raw_one = SingleRowPredictor(booster, PREDICT_RAW_SCORE, n)
        #: Exact contribution tables when the booster is additive (``scoring.additive``: also a
        #: compiled scorecard) or a GA2M (``scoring.pairs``); ``None`` means reason codes come
        #: from LightGBM's TreeSHAP on every request (free interactions).
        self.tables: AdditiveTables | PairTables | None = AdditiveTables.from_booster(
            booster, schema
        )
        if self.tables is None:
            if "\nis_linear=1\n" in booster.model_to_string():
                # LightGBM's pred_contrib ignores linear leaves: without exact tables the reason
                # codes and the margin of the TreeSHAP path would be wrong.
                raise ModelLoadError(
                    "booster has linear leaves but does not compile into exact per-feature "
                    "tables (scoring.additive); it cannot be served"
                )
            self.tables = PairTables.from_booster(booster, schema)
        #: Per numeric feature of an additive model: its thresholds and, for each interval,
        #: whether a value there hurts by being too high or too low (reason texts).
        self._sides: list[tuple[list[float], list[Side | None]] | None] = [None] * n
        if isinstance(self.tables, AdditiveTables):
            for j, (feature, table) in enumerate(
                zip(schema.features, self.tables.tables, strict=True)
            ):
                sides = sides_by_interval(feature, table)
                if sides is not None and table.thresholds is not None:
                    self._sides[j] = (table.thresholds, sides)
        #: Reason text of (feature index, value, side), memoised: a text depends on nothing
        #: else, categories are few and real amounts, ages and durations repeat; bounded.
        self._reason_text = lru_cache(maxsize=REASON_TEXT_CACHE)(self._compose_reason_text)

    # --- scoring -------------------------------------------------------------------------------
    def margin(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw booster log-odds for an encoded matrix."""
        return np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)

    def predict_proba_matrix(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probability of default for an encoded matrix."""
        return self.calibration.apply(self.margin(x))

    def predict_proba(self, records: Sequence[Mapping[str, Any]]) -> NDArray[np.float64]:
        """Calibrated probability of default for plain dicts."""
        return self.predict_proba_matrix(self.encoder.encode_records(records))

    def score(
        self, records: Sequence[Mapping[str, Any]], max_reasons: int = 4
    ) -> list[ScoreResult]:
        """Score applicants: PD, points, decision and up to ``max_reasons`` adverse reasons."""
        if not records:
            return []
        one = len(records) == 1
        if one and self.tables is not None:
            return [self._score_one(records[0], max_reasons)]
        x = self.encoder.encode_records(records)
        log_odds: list[list[float]] = []
        # One thread: for the few rows of a request OpenMP start-up and spinning cost more than
        # they save (tens of ms per call on a busy 2-core host instead of < 1 ms).
        if self.tables is not None or max_reasons:
            # One pass gives both: the contributions sum to the raw margin (last column = bias).
            # Lookup tables (additive model) cost ~20 vectorised lookups, less than a prediction.
            if self.tables is not None:
                contrib = self.tables.contrib_matrix(x)
            elif one:
                contrib = self._contrib_one(x[0])[np.newaxis, :]
            else:
                contrib = np.asarray(
                    self.booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64
                )
            margin = contrib.sum(axis=1)
            if max_reasons:
                log_odds = (contrib[:, :-1] * self.calibration.slope).tolist()
        elif one:
            margin = self._raw_one(x[0])
        else:  # no reasons wanted: skip TreeSHAP, which costs ~50x a plain prediction
            margin = np.asarray(
                self.booster.predict(x, raw_score=True, num_threads=1), dtype=np.float64
            )
        pd_ = self.calibration.apply(margin).tolist()
        points = self.scaling.points(pd_).tolist()
        decision = self.scaling.decision
        grade = self.master_scale.grade
        rows = x.tolist() if max_reasons else []
        return [
            ScoreResult(
                probability=pd_[i],
                score=points[i],
                decision=decision(pd_[i]),
                reasons=self._reasons(rows[i], log_odds[i], max_reasons) if max_reasons else [],
                grade=grade(pd_[i]),
            )
            for i in range(len(records))
        ]

    def _score_one(self, record: Mapping[str, Any], max_reasons: int) -> ScoreResult:
        """One applicant through the lookup tables on Python floats (no numpy per request)."""
        assert self.tables is not None
        row = self.encoder.encode_row(record)
        contrib = self.tables.row(row)
        pd_ = self.calibration.probability(sum(contrib))
        slope = self.calibration.slope
        return ScoreResult(
            probability=pd_,
            score=self.scaling.point(pd_),
            decision=self.scaling.decision(pd_),
            reasons=(
                self._reasons(row, [c * slope for c in contrib[:-1]], max_reasons)
                if max_reasons
                else []
            ),
            grade=self.master_scale.grade(pd_),
        )

    def _reasons(self, row: list[float], log_odds: list[float], limit: int) -> list[Reason]:
        """The ``limit`` largest positive contributions, largest first (ties: schema order)."""
        order = sorted(range(len(log_odds)), key=log_odds.__getitem__, reverse=True)[:limit]
        factor = self.scaling.factor
        out = []
        for j in order:
            c = log_odds[j]
            if c <= 0:
                break
            name = self.encoder.names[j]
            raw = row[j]
            if j in self._categorical:
                value: Any = self.encoder.category(j, raw)
            else:
                value = None if math.isnan(raw) else raw
            known = self._sides[j]
            if known is not None and raw == raw:  # a numeric table, not missing
                side = known[1][bisect_left(known[0], raw)]
            else:
                side = side_of(self.schema.features[j], raw, None)
            out.append(
                Reason(
                    feature=name,
                    value=value,
                    contribution=c,
                    points=-factor * c,
                    reason=self._reason_text(j, value, side),
                )
            )
        return out

    def _compose_reason_text(self, j: int, value: Any, side: Side | None) -> str:
        return adverse_text(self.schema.features[j], value, side)

    # --- persistence ---------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "schema": self.schema.model_dump(mode="json", exclude_none=True),
            "scaling": self.scaling.model_dump(),
            "master_scale": self.master_scale.model_dump(mode="json"),
            "calibration": {
                "method": "platt",
                "slope": self.calibration.slope,
                "intercept": self.calibration.intercept,
            },
            "input_example": self.input_example,
        }

    def save_artifacts(self, directory: Path) -> dict[str, str]:
        """Write booster and metadata files; return the pyfunc ``artifacts`` mapping."""
        directory.mkdir(parents=True, exist_ok=True)
        booster_path = directory / BOOSTER_FILE
        meta_path = directory / METADATA_FILE
        self.booster.save_model(str(booster_path))
        meta_path.write_text(json.dumps(self.metadata(), indent=2), encoding="utf-8")
        return {"booster": str(booster_path), "credit_model": str(meta_path)}

    @classmethod
    def from_files(cls, booster_path: Path, meta_path: Path) -> CreditModel:
        """Load from the two artifact files."""
        for p in (booster_path, meta_path):
            if not p.is_file():
                raise ModelLoadError(f"model file {str(p)!r} is missing")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format_version") != FORMAT_VERSION:
                raise ModelLoadError(
                    f"{meta_path}: unsupported format_version {meta.get('format_version')!r}"
                )
            cal = meta["calibration"]
            return cls(
                booster=lgb.Booster(model_file=str(booster_path)),
                schema=FeatureSchema.model_validate(meta["schema"]),
                scaling=ScoreScaling.model_validate(meta["scaling"]),
                calibration=Calibration(slope=cal["slope"], intercept=cal["intercept"]),
                input_example=meta.get("input_example") or [],
                master_scale=(
                    MasterScale.model_validate(meta["master_scale"])
                    if meta.get("master_scale")
                    else None
                ),
            )
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"model files in {str(meta_path.parent)!r} are invalid: {exc}"
            ) from exc

    @classmethod
    def from_dir(cls, path: str | Path) -> CreditModel:
        """Load a downloaded pyfunc model directory, checking its signature against the schema."""
        root = Path(path)
        model = cls.from_files(
            root / "artifacts" / BOOSTER_FILE, root / "artifacts" / METADATA_FILE
        )
        signature_names = _signature_inputs(root / "MLmodel")
        if signature_names is not None and signature_names != model.schema.feature_names:
            raise ModelLoadError(
                f"model signature inputs {signature_names} do not match the feature schema "
                f"{model.schema.feature_names}"
            )
        return model

    def smoke_test(self) -> None:
        """Score the stored input example; raise :class:`ModelLoadError` if anything is off."""
        if not self.input_example:
            raise ModelLoadError("model has no input example to smoke-test")
        try:
            results = self.score(self.input_example)
        except Exception as exc:
            raise ModelLoadError(f"model failed to score its input example: {exc}") from exc
        if len(results) != len(self.input_example):
            raise ModelLoadError("model returned a different number of results than inputs")
        for r in results:
            if (
                not 0.0 <= r.probability <= 1.0
                or r.decision not in DECISIONS
                or r.grade not in self.master_scale.labels
            ):
                raise ModelLoadError(f"model returned an invalid result on its input example: {r}")


def _signature_inputs(mlmodel: Path) -> list[str] | None:
    if not mlmodel.is_file():
        return None
    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    inputs = (spec.get("signature") or {}).get("inputs")
    if not inputs:
        return None
    return [col["name"] for col in json.loads(inputs)]


def load_credit_model(model_uri: str, dst_dir: str | Path) -> CreditModel:
    """Download ``model_uri`` (e.g. ``models:/credit-scoring/3``) into ``dst_dir`` and load it."""
    import mlflow.artifacts  # deferred: importing mlflow costs seconds

    Path(dst_dir).mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst_dir))
    return CreditModel.from_dir(local)


def __getattr__(name: str) -> Any:
    # Registered models pickled ``credit_scoring.scoring.model.CreditScoringPyfunc`` (the class
    # lived here until the pyfunc wrapper got its own module): unpickling them resolves the old
    # path through this hook. Lazy, so importing this module never imports mlflow.
    if name in ("CreditScoringPyfunc", "predict_frame"):
        from credit_scoring.scoring import pyfunc

        return getattr(pyfunc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
