"""LightGBM's single-row fast path, through its C API (``LGBM_BoosterPredictForMatSingleRowFast``).

``Booster.predict`` parses its parameters, builds a predictor and converts the matrix on every
call; for one row that costs more than the raw prediction itself. A fast-config handle does that
once per model. This module is the one place that uses LightGBM's private ``_LIB``/``_safe_call``
(pinned LightGBM version in the lock files; ``tests/unit/api/test_fast_path.py`` checks the
results against ``Booster.predict``).
"""

from __future__ import annotations

import ctypes

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call
from numpy.typing import NDArray

# LightGBM C API constants (``c_api.h``): prediction types and the float64 data type.
PREDICT_RAW_SCORE = 1
PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1


class SingleRowPredictor:
    """Predict one row of ``booster`` (raw score or contributions).

    Results are identical to ``Booster.predict(x, ..., num_threads=1)``.
    """

    def __init__(self, booster: lgb.Booster, predict_type: int, n_features: int) -> None:
        self._booster = booster  # the handle points into it: keep it alive as long as we are
        self._n_out = n_features + 1 if predict_type == PREDICT_CONTRIB else 1
        self._fn = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start iteration
                # Same iterations as Booster.predict's default (best_iteration; <= 0 means all).
                ctypes.c_int(booster.best_iteration),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                b"num_threads=1",
                ctypes.byref(self._handle),
            )
        )

    def __call__(self, row: NDArray[np.float64]) -> NDArray[np.float64]:
        """Predict one C-contiguous float64 row; a fresh output array per call (thread-safe)."""
        out = np.empty(self._n_out, dtype=np.float64)
        out_len = ctypes.c_int64(0)
        _safe_call(
            self._fn(
                self._handle,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(out_len),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        return out

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value is not None:
            _LIB.LGBM_FastConfigFree(handle)
