"""Counterfactual suggestions: exact, minimal, re-scored, never touching immutable/protected
features, within the schema's ranges and categories and monotone directions.

Uses the real tiny LightGBM models of this folder's conftest (additive and with interactions).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from conftest import train_tiny

from credit_scoring.data.schema import Feature, FeatureSchema, ProtectedAttribute
from credit_scoring.scoring.counterfactual import NOT_ADDITIVE_NOTE, counterfactuals
from credit_scoring.scoring.explain import breakdown
from credit_scoring.scoring.model import CreditModel

pytestmark = pytest.mark.unit

_RANK = {"approve": 0, "review": 1, "decline": 2}


@pytest.fixture(scope="module")
def model(schema: FeatureSchema, german: pd.DataFrame) -> CreditModel:
    return train_tiny(schema, german, rounds=80)


def _records(schema: FeatureSchema, german: pd.DataFrame) -> list[dict[str, Any]]:
    return german[schema.feature_names].to_dict(orient="records")  # type: ignore[return-value]


def _rescored(model: CreditModel, record: dict[str, Any], changes: dict[str, Any]) -> str:
    return model.score([{**record, **changes}], max_reasons=0)[0].decision


def test_suggestions_reach_the_band_are_minimal_and_respect_the_schema(
    model: CreditModel, schema: FeatureSchema, german: pd.DataFrame
) -> None:
    records = _records(schema, german)
    results = model.score(records, max_reasons=0)
    worse = [r for r, res in zip(records, results, strict=True) if res.decision != "approve"]
    assert len(worse) > 100
    locked = schema.unchangeable
    assert {"credit_history", "purpose", "present_employment_since"} <= locked
    checked = 0
    for record in worse[:60]:
        cf = counterfactuals(model, record)
        assert cf.available and cf.exact
        for s in cf.suggestions:
            changes = {c.feature: c.suggested for c in s.changes}
            # Re-scored by the model, and the reported result is that re-score.
            again = model.score([{**record, **changes}], max_reasons=0)[0]
            assert again.probability == pytest.approx(s.probability, abs=1e-12)
            assert _RANK[again.decision] <= _RANK[s.target] < _RANK[cf.decision]
            # Minimal: dropping any one change no longer reaches the band.
            for name in changes:
                rest = {k: v for k, v in changes.items() if k != name}
                assert _RANK[_rescored(model, record, rest)] > _RANK[s.target]
            for c in s.changes:
                assert c.feature not in locked
                f = schema.feature(c.feature)
                assert c.suggested != record[c.feature]
                if f.type == "categorical":
                    assert c.suggested in (f.categories or [])
                else:
                    assert f.min is not None and f.max is not None
                    assert f.min <= c.suggested <= f.max
                    assert not f.integer or isinstance(c.suggested, int)
                    if f.monotone == "increasing":
                        assert c.suggested < record[c.feature]
                    if f.monotone == "decreasing":
                        assert c.suggested > record[c.feature]
                assert c.points > 0
            checked += 1
    assert checked > 40


def test_single_change_is_the_nearest_value_that_reaches_the_band(
    model: CreditModel, schema: FeatureSchema, german: pd.DataFrame
) -> None:
    """Brute force over every allowed loan term: the suggestion is the nearest one that works."""
    feature = schema.feature("duration_in_month")
    assert feature.min is not None and feature.max is not None
    seen = 0
    for record in _records(schema, german):
        cf = counterfactuals(model, record, limit=10)
        for s in cf.suggestions:
            if [c.feature for c in s.changes] != ["duration_in_month"]:
                continue
            current = record["duration_in_month"]
            working = [
                v
                for v in range(int(feature.min), int(feature.max) + 1)
                if _RANK[_rescored(model, record, {"duration_in_month": v})] <= _RANK[s.target]
            ]
            nearest = min(working, key=lambda v: (abs(v - current), v))
            assert s.changes[0].suggested == nearest
            seen += 1
        if seen >= 8:
            break
    assert seen >= 8


def test_protected_feature_is_never_changed(schema: FeatureSchema, german: pd.DataFrame) -> None:
    """Age as a model input, declared protected: no suggestion changes it, even when it is the
    feature that would help most."""
    with_age = schema.model_copy(deep=True)
    with_age.features.append(
        Feature(name="age_in_years", type="numeric", integer=True, min=18, max=100)
    )
    with_age.protected = [ProtectedAttribute(name="age_band", source="age_in_years", bins=[35])]
    model = train_tiny(with_age, german, rounds=60)
    unlocked = with_age.model_copy(deep=True)
    unlocked.protected = []
    records = german[with_age.feature_names].to_dict(orient="records")
    would_use_age = 0
    for record in records[:200]:
        cf = counterfactuals(model, record)
        assert all(c.feature != "age_in_years" for s in cf.suggestions for c in s.changes)
        # Control: without the protection the same model would suggest changing age.
        free = counterfactuals(model, record, schema=unlocked)
        changed = {c.feature for s in free.suggestions for c in s.changes}
        would_use_age += "age_in_years" in changed
    assert would_use_age > 0


def test_approved_applicant_gets_nothing_to_change(
    model: CreditModel, schema: FeatureSchema, german: pd.DataFrame
) -> None:
    records = _records(schema, german)
    results = model.score(records, max_reasons=0)
    record = next(r for r, res in zip(records, results, strict=True) if res.decision == "approve")
    cf = counterfactuals(model, record)
    assert cf.available and cf.suggestions == [] and "best band" in cf.note


def test_interaction_model_says_it_offers_no_suggestions(
    tiny_interaction_model: CreditModel, schema: FeatureSchema, german: pd.DataFrame
) -> None:
    assert tiny_interaction_model.tables is None
    cf = counterfactuals(tiny_interaction_model, _records(schema, german)[1])
    assert not cf.available and not cf.exact and cf.suggestions == []
    assert cf.note == NOT_ADDITIVE_NOTE and "interactions" in cf.note


@pytest.mark.parametrize("additive", [True, False])
def test_breakdown_adds_up_to_the_score(
    additive: bool,
    model: CreditModel,
    tiny_interaction_model: CreditModel,
    schema: FeatureSchema,
    german: pd.DataFrame,
) -> None:
    m = model if additive else tiny_interaction_model
    for record in _records(schema, german)[:50]:
        parts = breakdown(m, record)
        assert parts.total == pytest.approx(m.score([record])[0].score, abs=1e-6)
        assert len(parts.features) == len(schema.features)


def test_the_declared_schema_governs_a_version_trained_without_the_flags(
    schema: FeatureSchema, german: pd.DataFrame
) -> None:
    """A version trained before features were declared immutable still never gets them
    changed when the API passes its declared schema."""
    bare = schema.model_copy(deep=True)
    for f in bare.features:
        f.immutable = False
        f.actionable_categories = None
    old = train_tiny(bare, german, rounds=60)
    locked = schema.unchangeable
    touched_without = 0
    for record in _records(schema, german)[:150]:
        governed = counterfactuals(old, record, schema=schema)
        assert not {c.feature for s in governed.suggestions for c in s.changes} & locked
        loose = counterfactuals(old, record)
        touched_without += bool({c.feature for s in loose.suggestions for c in s.changes} & locked)
    assert touched_without > 0
