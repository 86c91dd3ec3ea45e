"""Schema inference that protects: which columns of an undeclared table may become features.

:func:`credit_scoring.data.schema.infer_schema` types every column it is given. Before that,
:func:`screen_columns` looks at each column and sets aside those that must not become features
silently:

* **protected attributes** — by name (age, sex/gender, race/ethnicity, religion, marital status,
  nationality/foreign, disability; English, German, French, Spanish, Italian, Dutch and
  Portuguese words) or by values (male/female, married/single/divorced, black/white/asian...).
  They are declared *protected* (measured by the gate's fairness checks) and excluded from the
  features;
* **ids** — a name like ``id``/``*_id``/``rownames``, or integer or text values unique per row;
* **dates** — datetime columns and text that parses as dates; the first becomes the schema's
  ``date_column`` (out-of-time evaluation), none is a feature;
* **constants** — one distinct value (or none);
* **free text** — text with more distinct values than a categorical feature may have;
* **likely leaks** — named like the target, ``*_pd``/``true_*``/``pd_*``, or separating the
  target almost perfectly on its own (single-feature AUC > :data:`LEAK_AUC`).

Every finding is reported (the CLI and the training pipeline print them) and every excluded
column can be used anyway by naming it (``--use-column NAME``): an explicit opt-in, never a
silent default.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from credit_scoring.data.schema import FeatureSchema, ProtectedAttribute, infer_schema

LEAK_AUC = 0.95
AGE_BANDS = [25.0, 35.0, 50.0]

# Whole words (after splitting names on _, -, spaces, digits and camelCase), lower case.
_PROTECTED_WORDS: dict[str, set[str]] = {
    "age": {
        "age",
        "ages",
        "alter",
        "edad",
        "âge",
        "età",
        "leeftijd",
        "idade",
        "birth",
        "birthdate",
        "dob",
        "geburtsdatum",
        "yob",
    },
    "sex": {
        "sex",
        "gender",
        "geschlecht",
        "sexe",
        "sexo",
        "genre",
        "genero",
        "género",
        "sesso",
        "geslacht",
        "female",
        "male",
    },
    "race": {
        "race",
        "racial",
        "ethnic",
        "ethnicity",
        "afam",
        "black",
        "white",
        "hispanic",
        "latino",
        "asian",
        "raza",
        "rasse",
        "etnia",
        "ethnie",
        "herkunft",
    },
    "religion": {"religion", "religious", "religione", "religião", "konfession", "faith", "caste"},
    "marital status": {
        "marital",
        "married",
        "marriage",
        "single",
        "divorced",
        "widow",
        "widowed",
        "spouse",
        "familienstand",
        "estadocivil",
        "matrimonial",
    },
    "nationality": {
        "nationality",
        "foreign",
        "foreigner",
        "citizen",
        "citizenship",
        "immigrant",
        "migrant",
        "staatsangehörigkeit",
        "nationalité",
        "nacionalidad",
        "nazionalità",
        "extranjero",
        "ausländer",
        "country_of_birth",
    },
    "disability": {
        "disability",
        "disabled",
        "handicap",
        "handicapped",
        "behinderung",
        "discapacidad",
        "invalidity",
    },
}
_PROTECTED_VALUES: dict[str, set[str]] = {
    "sex": {
        "male",
        "female",
        "m",
        "f",
        "man",
        "woman",
        "men",
        "women",
        "männlich",
        "weiblich",
        "homme",
        "femme",
        "hombre",
        "mujer",
    },
    "marital status": {
        "married",
        "single",
        "divorced",
        "widowed",
        "widow",
        "separated",
        "casado",
        "soltero",
        "divorciado",
        "viudo",
        "verheiratet",
        "ledig",
        "geschieden",
        "marié",
        "célibataire",
        "divorcé",
    },
    "race": {"black", "white", "asian", "hispanic", "latino", "african american", "caucasian"},
}
_ID_WORDS = {"id", "uuid", "guid", "rownames", "rowid", "index", "key", "customerid"}
_LEAK_PATTERNS = (re.compile(r"(^|_)pd$"), re.compile(r"^pd(_|$)"), re.compile(r"^true_"))


@dataclass(frozen=True)
class Finding:
    """One column set aside (or flagged) by the screening."""

    column: str
    kind: str  # protected | id | date | constant | free text | leak
    detail: str
    used: bool = False  # the user opted in: it stays a feature

    def __str__(self) -> str:
        action = "kept as a feature (opted in)" if self.used else "excluded from the features"
        return f"{self.column!r}: {self.kind} ({self.detail}) - {action}"


@dataclass(frozen=True)
class Inference:
    """An inferred schema and what the screening found."""

    schema: FeatureSchema
    findings: list[Finding] = field(default_factory=list)

    def notice(self) -> str:
        """The human-readable report of every finding ('' when there is none)."""
        if not self.findings:
            return ""
        lines = [f"- {f}" for f in self.findings]
        hint = (
            "Protected attributes are measured for fairness, never used as features, unless you "
            "opt in with --use-column NAME; declare a schema file to decide column by column."
        )
        return "Schema inference set aside columns:\n" + "\n".join(lines) + "\n" + hint


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^0-9a-zA-Zäöüßéèêàùìòíóúñçã]+|\d+", spaced.lower()) if w}


def protected_kind(name: str, values: pd.Series) -> str | None:
    """Which protected attribute a column looks like, by its name or its values."""
    words = _words(name)
    for kind, vocabulary in _PROTECTED_WORDS.items():
        if words & vocabulary:
            return kind
    distinct = {str(v).strip().lower() for v in values.dropna().unique()[:50]}
    if distinct and len(distinct) <= 20:
        for kind, vocabulary in _PROTECTED_VALUES.items():
            if len(distinct & vocabulary) >= min(2, len(distinct)) and distinct & vocabulary:
                return kind
    return None


def _is_id(name: str, values: pd.Series) -> str | None:
    if _words(name) & _ID_WORDS or name.lower().endswith("_id"):
        return "named like an identifier"
    non_null = values.dropna()
    if len(non_null) < 20 or non_null.nunique() != len(non_null):
        return None
    if pd.api.types.is_integer_dtype(values) or (
        pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    ):
        return "a distinct value on every row"
    return None


def _is_date(values: pd.Series) -> str | None:
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime values"
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    sample = values.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d").all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": fine, we only test parsing
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    if parsed.notna().mean() >= 0.95:
        return "text that parses as dates"
    return None


def _leak(name: str, target: str, values: pd.Series, y: np.ndarray) -> str | None:
    lname = name.lower()
    if _words(target) <= _words(name):
        return f"named like the target {target!r}"
    if any(p.search(lname) for p in _LEAK_PATTERNS):
        return "named like a model output or the ground truth (*_pd, pd_*, true_*)"
    auc = single_feature_auc(values, y)
    if auc is not None and auc > LEAK_AUC:
        return f"separates the target on its own (AUC {auc:.3f} > {LEAK_AUC})"
    return None


def single_feature_auc(values: pd.Series, y: np.ndarray) -> float | None:
    """AUC of one column alone (numeric: its values; text: its per-category default rate)."""
    if len(np.unique(y)) < 2:
        return None
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        score = pd.to_numeric(values, errors="coerce")
        score = score.fillna(score.median() if score.notna().any() else 0.0)
    else:
        text = values.astype(str)
        if text.nunique() > 50:
            return None
        rate = pd.Series(y, index=values.index).groupby(text).mean()
        score = text.map(rate)
    auc = float(roc_auc_score(y, score.to_numpy(dtype=float)))
    return max(auc, 1.0 - auc)


def _protected_attribute(name: str, kind: str, values: pd.Series) -> ProtectedAttribute:
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique() > 10:
        if kind == "age":
            return ProtectedAttribute(name=name, source=name, bins=AGE_BANDS)
        edges = sorted({float(q) for q in values.quantile([0.25, 0.5, 0.75]).dropna()})
        return ProtectedAttribute(name=name, source=name, bins=edges or None)
    return ProtectedAttribute(name=name, source=name)


def screen_columns(
    frame: pd.DataFrame,
    target: str,
    y: np.ndarray | None = None,
    use: Collection[str] = (),
    max_categories: int = 50,
) -> list[Finding]:
    """Findings for every column except the target (see the module docstring)."""
    unknown = sorted(set(use) - set(map(str, frame.columns)))
    if unknown:
        raise ValueError(f"--use-column names columns that are not in the data: {unknown}")
    findings: list[Finding] = []
    for col in frame.columns:
        name = str(col)
        if name == target:
            continue
        values = frame[col]
        opted = name in use
        kind = protected_kind(name, values)
        if kind:
            findings.append(Finding(name, "protected", f"looks like {kind}", opted))
            continue
        if values.nunique(dropna=True) <= 1:
            findings.append(Finding(name, "constant", "one distinct value or none", opted))
            continue
        why = _is_date(values)
        if why:
            findings.append(Finding(name, "date", why, opted))
            continue
        why = _is_id(name, values)
        if why:
            findings.append(Finding(name, "id", why, opted))
            continue
        text = not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        if text and values.nunique() > max_categories and not opted:
            detail = f"{values.nunique()} distinct text values (more than {max_categories})"
            findings.append(Finding(name, "free text", detail))
            continue
        if y is not None:
            why = _leak(name, target, values, y)
            if why:
                findings.append(Finding(name, "leak", f"likely leak: {why}", opted))
    return findings


def infer(
    frame: pd.DataFrame,
    target: str,
    *,
    use: Collection[str] = (),
    max_categories: int = 50,
) -> Inference:
    """A schema for ``frame`` whose features exclude every screened column not in ``use``.

    Protected-looking columns are declared as protected attributes (also when opted in as
    features); the first date column becomes ``date_column``.
    """
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} not found; columns are {list(frame.columns)}")
    base = infer_schema(frame[[target]].assign(_probe=0), target)  # target checks, positive class
    positive = {str(v) for v in base.target.positive}
    y_text = frame[target].map(lambda v: None if pd.isna(v) else str(v))
    known = y_text.notna().to_numpy()
    y = y_text[known].isin(positive).astype(int).to_numpy()
    findings = screen_columns(frame[known], target, y, use, max_categories)
    drop = {f.column for f in findings if not f.used}
    schema = infer_schema(
        frame.drop(columns=sorted(drop)),
        target,
        max_categories=max_categories,
        positive=list(base.target.positive),
    )
    protected = [
        _protected_attribute(f.column, f.detail.removeprefix("looks like "), frame[f.column])
        for f in findings
        if f.kind == "protected"
    ]
    dates = [f.column for f in findings if f.kind == "date" and not f.used]
    schema = schema.model_copy(
        update={"protected": protected, "date_column": dates[0] if dates else None}
    )
    return Inference(FeatureSchema.model_validate(schema.model_dump()), findings)
