"""The reason-text catalogue of the feature schema: specific texts, chosen by value and side."""

from __future__ import annotations

import pytest

from credit_scoring.data.io import german_credit_schema
from credit_scoring.data.schema import AdverseTexts, Feature
from credit_scoring.scoring.additive import FeatureTable
from credit_scoring.scoring.reason_text import adverse_text, side_of

pytestmark = pytest.mark.unit


def test_bundled_schema_has_a_specific_text_for_every_feature() -> None:
    schema = german_credit_schema()
    for f in schema.features:
        assert f.adverse is not None, f.name
        if f.type == "numeric":
            assert f.adverse.high and f.adverse.low, f.name
        else:
            assert f.adverse.default or set(f.adverse.categories) == set(f.categories or [])


@pytest.mark.parametrize("vague", ["Other", "other reasons.", "  ", "Miscellaneous"])
def test_vague_texts_are_refused(vague: str) -> None:
    with pytest.raises(ValueError, match="not specific"):
        AdverseTexts(default=vague)


def test_texts_must_fit_the_feature_type() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Feature(
            name="c",
            type="categorical",
            categories=["a"],
            adverse=AdverseTexts(categories={"b": "B is bad"}),
        )
    with pytest.raises(ValueError, match="numeric"):
        Feature(name="c", type="categorical", categories=["a"], adverse=AdverseTexts(high="High"))
    with pytest.raises(ValueError, match="categorical"):
        Feature(name="n", type="numeric", adverse=AdverseTexts(default="Some text"))


def test_text_by_category_side_and_missing() -> None:
    schema = german_credit_schema()
    status = schema.feature("status_of_existing_checking_account")
    assert adverse_text(status, "no checking account", None) == "No checking account"
    assert adverse_text(status, "... >= 200 DM / salary assignments for at least 1 year", None) == (
        "Checking account status (... >= 200 DM / salary assignments for at least 1 year)"
    )
    term = schema.feature("duration_in_month")
    assert adverse_text(term, 48.0, "high") == "Loan term too long (48 months)"
    assert adverse_text(term, None, "high") == "Loan duration in months: not provided"
    plain = Feature(name="x_y", type="numeric")
    assert adverse_text(plain, 3.5, None) == "x y (3.5) raises the risk of default"


def test_side_comes_from_the_table_then_the_monotone_direction() -> None:
    u_shaped = FeatureTable("n", thresholds=[10.0, 20.0], values=[0.5, -0.2, 0.3], missing=0.0)
    plain = Feature(name="n", type="numeric")
    assert side_of(plain, 5.0, u_shaped) == "low"  # the lower-risk interval lies above
    assert side_of(plain, 25.0, u_shaped) == "high"
    assert side_of(plain, 15.0, u_shaped) is None  # already the lowest-risk interval
    rising = Feature(name="n", type="numeric", monotone="increasing")
    assert side_of(rising, 15.0, None) == "high"
    assert side_of(plain, float("nan"), u_shaped) is None


@pytest.mark.parametrize("monotone", [None, "increasing", "decreasing"])
def test_sides_by_interval_agree_with_side_of_everywhere(monotone: str | None) -> None:
    """What a model keeps (one list per feature) answers exactly as :func:`side_of` would."""
    from bisect import bisect_left

    from credit_scoring.scoring.reason_text import sides_by_interval

    feature = Feature(name="n", type="numeric", monotone=monotone)
    tables = [
        FeatureTable("n", thresholds=[10.0, 20.0], values=[0.5, -0.2, 0.3], missing=0.0),
        FeatureTable("n", thresholds=[1.0, 2.0, 3.0], values=[0.1, 0.1, 0.1, 0.1], missing=0.0),
        FeatureTable("n", thresholds=[5.0], values=[0.0, 1.0], missing=0.0, slopes=[0.0, -0.5]),
    ]
    for table in tables:
        sides = sides_by_interval(feature, table)
        assert sides is not None and table.thresholds is not None
        for value in (-1.0, 0.5, 1.0, 1.5, 2.0, 4.9, 5.0, 5.1, 10.0, 15.0, 20.0, 99.0):
            expected = side_of(feature, value, table)
            assert sides[bisect_left(table.thresholds, value)] == expected, (table, value)
    assert (
        sides_by_interval(Feature(name="c", type="categorical", categories=["a"]), tables[0])
        is None
    )
    assert sides_by_interval(feature, None) is None
