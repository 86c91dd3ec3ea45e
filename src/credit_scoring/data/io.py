"""Reading datasets: user CSV/Parquet files and the bundled German Credit data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from credit_scoring.data.schema import FeatureSchema

GERMAN_CREDIT = "german_credit.csv"
GERMAN_CREDIT_SCHEMA = "german_credit.schema.yaml"


class DataFileError(ValueError):
    """A data file cannot be read."""


def bundled_path(name: str) -> Path:
    """Path of a file shipped in ``credit_scoring/data/bundled``."""
    return Path(str(resources.files("credit_scoring.data") / "bundled" / name))


def load_german_credit() -> pd.DataFrame:
    """The bundled German Credit (Statlog) dataset: 1,000 rows, 20 attributes + target."""
    return pd.read_csv(bundled_path(GERMAN_CREDIT))


def german_credit_schema() -> FeatureSchema:
    """The declared schema of the bundled German Credit dataset."""
    return FeatureSchema.load(bundled_path(GERMAN_CREDIT_SCHEMA))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, with an error naming the file and the reason."""
    file = Path(path)
    if file.is_dir():
        raise DataFileError(f"data file {str(file)!r} is a directory, not a file")
    if not file.exists():
        raise DataFileError(f"data file {str(file)!r} does not exist")
    if not file.is_file():
        raise DataFileError(f"data file {str(file)!r} is not a regular file")
    if file.stat().st_size == 0:
        raise DataFileError(f"data file {str(file)!r} is empty")
    suffix = file.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(file).names)
            _refuse_duplicates(file, names)
            frame = pd.read_parquet(file)
        elif suffix in {".csv", ".txt", ".gz"}:
            # pandas renames a repeated header ("income", "income.1"): check the raw header.
            header = pd.read_csv(file, header=None, nrows=1, dtype=str)
            _refuse_duplicates(file, header.iloc[0].tolist() if len(header) else [])
            frame = pd.read_csv(file, low_memory=False)
        else:
            raise DataFileError(
                f"data file {str(file)!r}: unsupported extension {suffix!r} (use .csv or .parquet)"
            )
    except DataFileError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types; name the file either way
        raise DataFileError(f"data file {str(file)!r} cannot be read: {exc}") from exc
    if frame.empty:
        raise DataFileError(f"data file {str(file)!r} has no rows")
    return frame


def duplicate_columns(columns: pd.Index | list[Any]) -> list[str]:
    """Column names that appear more than once (in order of first repetition)."""
    index = pd.Index(columns)
    return [str(c) for c in pd.unique(index[index.duplicated()])]


def _refuse_duplicates(file: Path, names: list[Any]) -> None:
    dupes = duplicate_columns(names)
    if dupes:
        raise DataFileError(
            f"data file {str(file)!r}: duplicate column name(s) {dupes}; each column must "
            "appear once"
        )
