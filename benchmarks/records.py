"""A benchmark's record: a JSON-lines file, one object per finished measurement, appended as
each finishes, so that a killed benchmark resumes where it stopped and several processes can
share one record."""

from __future__ import annotations

import json
from pathlib import Path


def read_records(record: Path | None) -> list[dict]:
    """The measurements in ``record`` (none when it is None or absent); a line cut off by a
    kill is skipped, so that measurement is taken again."""
    if record is None or not record.exists():
        return []
    rows = []
    for line in record.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_record(record: Path | None, row: dict) -> dict:
    """Append ``row`` to ``record`` (when given) and return it as the record holds it (JSON
    types: tuples become lists, integer keys strings)."""
    row = json.loads(json.dumps(row))
    if record is not None:
        with record.open("a") as out:
            out.write(json.dumps(row) + "\n")
    return row
