"""The Spark engine: the same per-batch scoring on Apache Spark, for books one machine cannot hold.

``mapInArrow`` hands each Python worker Arrow record batches; the worker runs
:func:`credit_scoring.batch.transform.score_batch`, the very step of the local engine (validation,
encoding, vectorised lookup-table scoring), and yields Arrow batches back: no pandas, no Python
loop per row. The model travels once per executor as a broadcast of its two artifact files
(booster text and metadata JSON); each Python worker rebuilds the :class:`CreditModel` from them
once (``functools.lru_cache``; Spark reuses Python workers) with the API's own loader.

The first pass writes the valid rows' scores (Parquet, a directory of part files as Spark writes
them) and counts the rows it left out. Only when it left some out, a second pass through the same
validation reads the feature columns and collects the rejects (usually few) to the driver, which
writes them as one CSV file in the local engine's layout (file and row: ``_metadata.file_path``
and, for Parquet, ``_metadata.row_index``; CSV rows have no number in Spark). The counts are then
checked: rows in (``count()`` of the input) = rows in the written output + distinct rejected
rows.

Run it three ways:

* ``credit-scoring score --engine spark [--master URL]`` (``local[*]`` by default);
* ``spark-submit`` on any cluster, with this package installed on the driver and executors (the
  trainer image has it)::

      spark-submit --master yarn --deploy-mode cluster \\
          "$(python -c 'import credit_scoring.batch.spark as m; print(m.__file__)')" \\
          --data hdfs:///books/2026-01 --out hdfs:///scores/2026-01 --alias production

  (``--master k8s://https://<api-server>:6443 --conf spark.kubernetes.container.image=<trainer
  image>`` on Kubernetes; on Databricks a Python-script job task with this file and the same
  parameters, the wheel installed as a cluster library, paths as ``dbfs:/`` or ``abfss://``).
  The driver needs ``MLFLOW_TRACKING_URI`` (or ``--model-dir`` pointing at a downloaded model
  directory); executors need neither.

Local paths are committed atomically (temporary sibling directory, then rename); remote URIs are
written in place by Spark's output committer (``_SUCCESS`` marks a complete output).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from credit_scoring.batch.io import AtomicFile, open_input, temporary_sibling
from credit_scoring.batch.local import DEFAULT_BATCH_ROWS
from credit_scoring.batch.model import RegisteredModel, model_from_text
from credit_scoring.batch.report import (
    REJECTS_SCHEMA,
    ScoringReport,
    check_counts,
    rejects_batch,
    rejects_path_for,
)
from credit_scoring.batch.transform import ScoringJob, score_batch
from credit_scoring.batch.validate import check_columns, validate_batch
from credit_scoring.scoring.model import CreditModel

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[*]"
_FILE = "__cs_file"
_ROW = "__cs_row"
_KEY = "__cs_key"
_REJECTS_CHUNK = 10_000


def _is_remote(path: str) -> bool:
    return "://" in path or path.startswith("dbfs:")


def build_session(master: str | None, batch_rows: int = DEFAULT_BATCH_ROWS) -> SparkSession:
    """A SparkSession (the running one under ``spark-submit``), UTC, Arrow batches of
    ``batch_rows``. A local master runs the Python workers on this interpreter.

    The engine's Arrow batches are as large as the local engine's (131,072 rows), not Spark's
    default 10,000: the per-batch costs (JVM <-> Python round trip, validation and scoring
    calls, output assembly) are then paid 13 times less often; a batch of this size is a few
    tens of MB per Python worker."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("credit-scoring-portfolio")
    if master:
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        .config("spark.ui.showConsoleProgress", "false")
        # Parquet timestamps marked UTC (readers then get aware times, as from the local engine).
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )


def read_input(spark: SparkSession, data: str) -> tuple[DataFrame, str]:
    """The input as a DataFrame with hidden file/row columns, and its format.

    Local paths are listed like the local engine does (same files, same partition columns);
    remote URIs are handed to Spark as they are (format from the extension, else Parquet).
    """
    from pyspark.sql import functions as F

    if _is_remote(data):
        fmt = "csv" if data.rstrip("/").lower().endswith(".csv") else "parquet"
        paths, base = [data], None
    else:
        source = open_input(data)
        fmt = source.format
        paths = [str(f) for f in source.files]
        base = str(source.path) if source.path.is_dir() else None
    reader = spark.read
    if base:
        reader = reader.option("basePath", base)
    if fmt == "csv":
        # All columns as text, like the local engine (no inferSchema); empty fields are null.
        df = reader.option("header", True).option("inferSchema", False).csv(paths)
        row = F.lit(None).cast("long")
    else:
        df = reader.parquet(*paths)
        row = F.col("_metadata.row_index") + 1
    return df.withColumn(_FILE, F.col("_metadata.file_path")).withColumn(_ROW, row), fmt


@lru_cache(maxsize=2)
def _executor_model(booster_text: str, metadata_text: str) -> CreditModel:
    """Built once per Python worker (the broadcast value is the same object on each call)."""
    return model_from_text(booster_text, metadata_text)


def _job(payload: dict[str, Any]) -> ScoringJob:
    return ScoringJob(
        model=_executor_model(payload["booster"], payload["metadata"]),
        model_name=payload["name"],
        model_version=payload["version"],
        max_reasons=payload["reasons"],
        scored_at=datetime.fromisoformat(payload["scored_at"]),
        dictionary=False,
    )


def _spark_type(t: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_floating(t):
        return T.DoubleType()
    if pa.types.is_timestamp(t):
        return T.TimestampType()
    return T.StringType()


def score_spark(
    spark: SparkSession,
    data: str,
    out: str,
    registered: RegisteredModel,
    max_reasons: int = 4,
    rejects: str | None = None,
) -> ScoringReport:
    """Score ``data`` into the Parquet directory ``out`` and the CSV file ``rejects``."""
    from pyspark.sql import types as T

    start = time.perf_counter()
    rejects = rejects or str(rejects_path_for(Path(out)))
    scored_at = datetime.now(UTC)
    payload: dict[str, Any] = {
        "booster": registered.booster_text,
        "metadata": registered.metadata_text,
        "name": registered.name,
        "version": registered.version,
        "reasons": max_reasons,
        "scored_at": scored_at.isoformat(),
    }
    driver_job = ScoringJob(
        registered.model,
        registered.name,
        registered.version,
        max_reasons,
        scored_at,
        dictionary=False,
    )
    df, _fmt = read_input(spark, data)
    inputs = [c for c in df.columns if c not in (_FILE, _ROW)]
    check_columns(inputs, registered.model.schema, driver_job.output_names())
    shared = spark.sparkContext.broadcast(payload)
    features = [c for c in registered.model.schema.feature_names if c in inputs]

    # Pass 1: scores of the valid rows.
    carried = [f for f in df.select(*inputs).schema.fields if f.name not in set(features)]
    out_schema = T.StructType(
        [
            *carried,
            *(T.StructField(f.name, _spark_type(f.type)) for f in driver_job.output_fields()),
        ]
    )

    # Rows the scoring pass left out: over-counted if a task is retried, never under-counted.
    left_out = spark.sparkContext.accumulator(0)

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        job = _job(shared.value)
        for batch in batches:
            scored = score_batch(job, batch)[0]
            left_out.add(batch.num_rows - scored.num_rows)
            yield scored

    scored = df.select(*inputs).mapInArrow(score_partition, out_schema)
    target = out if _is_remote(out) else str(temporary_sibling(Path(out)))
    try:
        scored.write.mode("overwrite").parquet(target)
        rows_scored = _count_parquet(spark, target)

        # Pass 2: the rejects, validation only, over the feature columns.
        def reject_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            schema = _job(shared.value).model.schema
            for batch in batches:
                checked = validate_batch(batch, schema)
                if not len(checked.problems):
                    continue
                lines = rejects_batch("", 0, checked.problems)
                take = pa.array(checked.problems.rows)
                keys = batch.column(_KEY).take(take)
                files = batch.column(_FILE).take(take)
                rows = batch.column(_ROW).take(take)
                yield pa.RecordBatch.from_arrays(
                    [files, rows, *lines.columns[2:], keys],
                    names=[*REJECTS_SCHEMA.names, _KEY],
                )

        from pyspark.sql import functions as F

        reject_schema = T.StructType(
            [
                T.StructField("file", T.StringType()),
                T.StructField("row", T.LongType()),
                T.StructField("column", T.StringType()),
                T.StructField("value", T.StringType()),
                T.StructField("reason", T.StringType()),
                T.StructField(_KEY, T.LongType()),
            ]
        )
        keyed = df.select(*features, _FILE, _ROW).withColumn(_KEY, F.monotonically_increasing_id())
        found = keyed.mapInArrow(reject_partition, reject_schema)
        rejected_keys: set[int] = set()
        with _rejects_writer(rejects) as writer:
            pending: list[dict[str, Any]] = []
            # No row left out: no second pass (the count check below still has the last word).
            lines = found.toLocalIterator(prefetchPartitions=False) if left_out.value else []
            for line in lines:
                record = line.asDict()
                rejected_keys.add(record.pop(_KEY))
                record["file"] = _local_name(record["file"])
                pending.append(record)
                if len(pending) >= _REJECTS_CHUNK:
                    writer.write(pa.RecordBatch.from_pylist(pending, schema=REJECTS_SCHEMA))
                    pending = []
            writer.write(pa.RecordBatch.from_pylist(pending, schema=REJECTS_SCHEMA))
            rows_in = df.count()
            check_counts(rows_in, rows_scored, len(rejected_keys))
            if isinstance(writer, AtomicFile):
                writer.commit()
        if not _is_remote(out):
            _replace_dir(Path(target), Path(out))
    finally:
        shared.unpersist()
        if not _is_remote(out):
            shutil.rmtree(target, ignore_errors=True)
    return ScoringReport(
        engine="spark",
        model_name=registered.name,
        model_version=registered.version,
        rows_in=rows_in,
        rows_scored=rows_scored,
        rows_rejected=len(rejected_keys),
        seconds=time.perf_counter() - start,
        output=out,
        rejects=rejects,
    )


def _count_parquet(spark: SparkSession, path: str) -> int:
    """Rows in a written Parquet output, from its footers (pyarrow locally, Spark remotely)."""
    if _is_remote(path):
        return int(spark.read.parquet(path).count())
    import pyarrow.dataset as ds

    return int(ds.dataset(path, format="parquet").count_rows())


def _local_name(uri: str | None) -> str | None:
    """``file:/a%20b.csv`` -> ``/a b.csv`` (the local engine's spelling); other URIs as they are."""
    if uri is None or not uri.startswith("file:"):
        return uri
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(uri).path)


class _RemoteCsv:
    """The rejects CSV on a remote filesystem (pyarrow.fs): written in place."""

    def __init__(self, uri: str) -> None:
        from pyarrow import csv as pacsv
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(uri)
        self._stream = filesystem.open_output_stream(path)
        self._writer = pacsv.CSVWriter(self._stream, REJECTS_SCHEMA)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def __enter__(self) -> _RemoteCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()
        self._stream.close()


def _rejects_writer(path: str) -> AtomicFile | _RemoteCsv:
    if _is_remote(path):
        return _RemoteCsv(path)
    return AtomicFile(Path(path), "csv", REJECTS_SCHEMA)


def _replace_dir(new: Path, final: Path) -> None:
    """Put ``new`` at ``final``; an older ``final`` is moved aside first, then deleted."""
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``spark-submit <this file>`` and ``python -m credit_scoring.batch.spark``."""
    from credit_scoring.batch.model import load_from_dir, load_registered
    from credit_scoring.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CSV/Parquet file, folder or dataset URI")
    parser.add_argument("--out", required=True, help="Output Parquet directory")
    parser.add_argument("--rejects", help="Rejects CSV file (default: <out>.rejects.csv)")
    parser.add_argument("--alias", default="production")
    parser.add_argument("--version", type=int)
    parser.add_argument("--model-dir", help="A downloaded model directory instead of MLflow")
    parser.add_argument("--reasons", type=int, default=4)
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    parser.add_argument("--master", help="Default: the one spark-submit sets")
    args = parser.parse_args(argv)
    if args.model_dir:
        registered = load_from_dir(Path(args.model_dir), "local", Path(args.model_dir).name)
    else:
        registered = load_registered(Settings(), args.alias, args.version)
    spark = build_session(args.master, args.batch_rows)
    report = score_spark(spark, args.data, args.out, registered, args.reasons, args.rejects)
    print(json.dumps(report.as_dict()))  # the job's result, in the driver log
    return 0


if __name__ == "__main__":  # pragma: no cover - spark-submit entry point
    sys.exit(main())
