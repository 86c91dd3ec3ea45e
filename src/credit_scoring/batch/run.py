"""One portfolio job end to end: load the registered model, pick the engine, score, report.

The single entry point of ``credit-scoring score`` and of the Airflow DAG
``credit_scoring_portfolio``; engines and I/O stay in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from credit_scoring.batch.report import ScoringReport, rejects_path_for
from credit_scoring.config import Settings

Engine = Literal["local", "spark"]
#: Given the total number of rows (``None`` when unknown), returns the per-batch callback.
ProgressFactory = Callable[[int | None], Callable[[int], None]]


def score_portfolio(
    settings: Settings,
    data: str,
    out: str,
    *,
    alias: str | None = "production",
    version: int | None = None,
    reasons: int = 4,
    engine: Engine = "local",
    batch_rows: int | None = None,
    master: str | None = None,
    rejects: str | None = None,
    progress: ProgressFactory | None = None,
) -> ScoringReport:
    """Score ``data`` with the registered model (``alias`` or ``version``) into ``out``."""
    from credit_scoring.batch.model import load_registered

    if reasons < 0:
        raise ValueError(f"--reasons must be 0 or more, got {reasons}")
    if engine not in ("local", "spark"):
        raise ValueError(f"--engine must be local or spark, not {engine!r}")
    registered = load_registered(settings, alias, version)
    from credit_scoring.batch.local import DEFAULT_BATCH_ROWS

    if engine == "spark":
        from credit_scoring.batch.spark import DEFAULT_MASTER, build_session, score_spark

        spark = build_session(master or DEFAULT_MASTER, batch_rows or DEFAULT_BATCH_ROWS)
        return score_spark(spark, data, out, registered, reasons, rejects)

    from credit_scoring.batch.io import open_input
    from credit_scoring.batch.local import score_local
    from credit_scoring.batch.transform import ScoringJob

    source = open_input(data)
    job = ScoringJob(
        model=registered.model,
        model_name=registered.name,
        model_version=registered.version,
        max_reasons=reasons,
        scored_at=datetime.now(UTC),
    )
    out_path = Path(out)
    return score_local(
        source,
        out_path,
        Path(rejects) if rejects else rejects_path_for(out_path),
        job,
        batch_rows or DEFAULT_BATCH_ROWS,
        on_progress=progress(source.count_rows()) if progress else None,
    )
