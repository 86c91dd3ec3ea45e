"""The MLflow pyfunc wrapper of :class:`~credit_scoring.scoring.model.CreditModel`.

``mlflow.pyfunc.load_model`` and ``mlflow models serve`` score DataFrames through
:class:`CreditScoringPyfunc` (columns probability, score, decision); the scoring API uses
``CreditModel`` directly. Models registered before this module existed pickled the class as
``credit_scoring.scoring.model.CreditScoringPyfunc``; that path still resolves (a lazy alias in
``scoring.model``), so they keep loading.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from credit_scoring.scoring.model import CreditModel


def predict_frame(model: CreditModel, frame: Any) -> Any:
    """Score a DataFrame: columns probability, score, decision, grade (the pyfunc output)."""
    import pandas as pd

    proba = model.predict_proba_matrix(model.encoder.encode_frame(pd.DataFrame(frame)))
    return pd.DataFrame(
        {
            "probability": proba,
            "score": model.scaling.points(proba),
            "decision": model.scaling.decisions(proba),
            "grade": model.master_scale.grades(proba),
        }
    )


with warnings.catch_warnings():
    # Importing mlflow.pyfunc warns about type hints in MLflow's own PythonModel subclasses.
    warnings.filterwarnings("ignore", message=r".*type hint", category=UserWarning)
    import mlflow.pyfunc


class CreditScoringPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """MLflow pyfunc wrapper: DataFrame in, probability/score/decision/grade columns out."""

    def load_context(self, context: Any) -> None:
        self.model = CreditModel.from_files(
            Path(context.artifacts["booster"]), Path(context.artifacts["credit_model"])
        )

    # No type hints on purpose: with hints MLflow would coerce inputs by its own rules.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return predict_frame(self.model, model_input)
