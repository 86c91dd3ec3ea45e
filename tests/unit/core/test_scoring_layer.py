"""The scoring layer stands alone: the served artifact imports neither training nor mlflow, and
models registered with the pyfunc class at its old path still unpickle."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_served_artifact_imports_neither_training_nor_mlflow() -> None:
    code = (
        "import sys, credit_scoring.scoring.model, credit_scoring.scoring.calibration;"
        "bad = sorted(m for m in sys.modules"
        " if m.startswith(('credit_scoring.training', 'mlflow')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pyfunc_class_pickled_at_its_old_path_still_resolves() -> None:
    from credit_scoring.scoring.pyfunc import CreditScoringPyfunc

    # What cloudpickle wrote for models registered before scoring/pyfunc.py existed: a
    # by-reference GLOBAL to credit_scoring.scoring.model.CreditScoringPyfunc.
    old = b"ccredit_scoring.scoring.model\nCreditScoringPyfunc\n."
    assert pickle.loads(old) is CreditScoringPyfunc  # noqa: S301 (our own bytes)
    new = pickle.loads(pickle.dumps(CreditScoringPyfunc()))  # noqa: S301
    assert type(new) is CreditScoringPyfunc


def test_unknown_attribute_of_the_model_module_still_fails() -> None:
    import credit_scoring.scoring.model as model_module

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = model_module.nope  # type: ignore[attr-defined]
