"""Portfolio input and output: streaming record batches in, atomic files out.

Input (:func:`open_input`): a CSV or Parquet file, a folder of them (searched recursively, hidden
and ``_``-prefixed files skipped, as Spark and Hive do) or a hive-partitioned Parquet dataset
(``segment=retail/month=2026-01/part-0.parquet``: the partition keys become columns and are
carried through). One format per input. :meth:`PortfolioInput.batches` streams
``(file, first row, batch)`` one file after the other, so every row has a file and a 1-based row
number for the rejects file.

CSV columns are all read as text: carried-through columns keep their exact characters (account
numbers keep their leading zeros) and every file of a folder has the same output schema; features
are parsed by the validation step, which rejects a bad value instead of failing the batch.
Empty CSV fields are nulls.

Output (:class:`AtomicFile`): written under a temporary name beside the final one and renamed
into place only when complete (``os.replace``, atomic on one filesystem), so an interrupted job
leaves nothing under the final name and a re-run replaces the previous output whole.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)


class InputError(ValueError):
    """The input path cannot be scored (missing, empty, mixed or unknown formats)."""


def _data_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if path.is_file() and not any(p.startswith((".", "_")) for p in rel):
            files.append(path)
    return files


def _format_of(files: list[Path], where: Path) -> str:
    kinds = set()
    for f in files:
        suffix = f.suffix.lower()
        if suffix in PARQUET_SUFFIXES:
            kinds.add("parquet")
        elif suffix in CSV_SUFFIXES:
            kinds.add("csv")
        else:
            raise InputError(
                f"input file {str(f)!r}: unsupported extension {suffix!r} (use .csv or .parquet)"
            )
    if len(kinds) > 1:
        raise InputError(f"input {str(where)!r} mixes CSV and Parquet files; score them apart")
    return kinds.pop()


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise InputError(f"CSV file {str(path)!r} has no header line")
    return header


@dataclass
class PortfolioInput:
    """An opened input: its files, format, Arrow dataset and column names."""

    path: Path
    files: list[Path]
    format: str
    dataset: ds.Dataset

    @property
    def column_names(self) -> list[str]:
        return list(self.dataset.schema.names)

    def count_rows(self) -> int | None:
        """Total rows from Parquet footers (cheap); ``None`` for CSV (would need a full read)."""
        return int(self.dataset.count_rows()) if self.format == "parquet" else None

    def batches(self, batch_rows: int) -> Iterator[tuple[str, int, pa.RecordBatch]]:
        """``(file, 1-based number of the batch's first row in that file, batch)`` in order."""
        for fragment in self.dataset.get_fragments():
            if self.format == "parquet":
                batches = self._parquet_batches(fragment, batch_rows)
            else:
                # Arrow's CSV reader streams blocks of 1 MiB; read ahead two batches of one file.
                batches = ds.Scanner.from_fragment(
                    fragment,
                    schema=self.dataset.schema,
                    batch_size=batch_rows,
                    batch_readahead=2,
                    fragment_readahead=1,
                ).to_batches()
            row = 1
            for batch in batches:
                if batch.num_rows:
                    yield fragment.path, row, batch
                    row += batch.num_rows

    def _parquet_batches(self, fragment: ds.Fragment, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """One Parquet file as batches of ``batch_rows``, in the dataset's schema.

        Parquet's streaming record-batch reader decodes ``batch_rows`` rows of each column at a
        time (no pre-buffering, column chunks read through a 1 MiB buffer), so memory is bounded
        by the batch size whatever the file's row groups. The dataset scanner is not used here:
        it decodes whole row groups and reads one ahead, which made peak memory depend on the
        input (1M-row row groups: +300 MB from 1M to 10M rows).
        """
        schema = self.dataset.schema
        keys = ds.get_partition_keys(fragment.partition_expression)
        with pq.ParquetFile(
            fragment.path, filesystem=fragment.filesystem, pre_buffer=False, buffer_size=1 << 20
        ) as reader:
            present = set(reader.schema_arrow.names)
            columns = [f.name for f in schema if f.name not in keys and f.name in present]
            for batch in reader.iter_batches(batch_size=batch_rows, columns=columns):
                n = batch.num_rows
                arrays = []
                for field in schema:
                    if field.name in keys:  # hive partition key: one value for the whole file
                        arrays.append(pa.repeat(pa.scalar(keys[field.name], field.type), n))
                    elif field.name in present:
                        arrays.append(batch.column(field.name).cast(field.type))
                    else:  # a column this file lacks: null, as Arrow's dataset scanner fills it
                        arrays.append(pa.nulls(n, field.type))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def open_input(path: str | Path) -> PortfolioInput:
    """Open a file, folder or partitioned dataset of CSV or Parquet files."""
    root = Path(path)
    if not root.exists():
        raise InputError(f"input {str(root)!r} does not exist")
    files = [root] if root.is_file() else _data_files(root)
    if not files:
        raise InputError(f"input folder {str(root)!r} holds no data files")
    fmt = _format_of(files, root)
    if fmt == "csv":
        headers = {f: _csv_header(f) for f in files}
        first = headers[files[0]]
        for f, header in headers.items():
            if header != first:
                raise InputError(
                    f"CSV file {str(f)!r} has columns {header}, unlike {str(files[0])!r} "
                    f"({first}); a folder must hold files of one layout"
                )
        file_format: ds.FileFormat = ds.CsvFileFormat(
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in first},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            )
        )
    else:
        file_format = ds.ParquetFileFormat()
    try:
        dataset = ds.dataset(
            [str(f) for f in files] if root.is_file() else str(root),
            format=file_format,
            partitioning=None if root.is_file() else "hive",
            exclude_invalid_files=False,
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"input {str(root)!r} cannot be read: {exc}") from exc
    return PortfolioInput(root, files, fmt, dataset)


def temporary_sibling(final: Path) -> Path:
    """A hidden name beside ``final`` for writing it (same filesystem: rename is atomic)."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


class AtomicFile:
    """A Parquet or CSV file written under a temporary name and renamed into place by
    :meth:`commit`.

    Used as a context manager: leaving the block without a commit (an error, ``KeyboardInterrupt``,
    ``SystemExit`` from SIGTERM) removes the temporary file and leaves the final name as it was.
    """

    def __init__(self, final: Path, kind: str, schema: pa.Schema) -> None:
        self.final = final
        self.tmp = temporary_sibling(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._writer: pq.ParquetWriter | pacsv.CSVWriter
        if kind == "parquet":
            self._writer = pq.ParquetWriter(str(self.tmp), schema, compression="zstd")
        else:
            self._writer = pacsv.CSVWriter(str(self.tmp), schema)
        self.rows = 0
        self._open = True

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def commit(self) -> None:
        """Finish the file and move it to its final name."""
        self._close()
        os.replace(self.tmp, self.final)

    def _close(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)
