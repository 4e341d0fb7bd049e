"""How methods and numbers read in a bench's analysis and report: method labels, intervals,
signed percentages. Every sentence and table of the bench writes them through here, so a
figure reads the same wherever it appears."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from mrft.atomic import atomic_write_bytes
from mrft.errors import MrftError

MISSING = "—"
"""What a table cell or a figure shows where there is no value."""


def method_label(name: str) -> str:
    """Column header of a method: ``grpo`` -> ``GRPO``; compound names (ablations) unchanged."""
    return name.upper() if re.fullmatch(r"[A-Za-z0-9]+", name) else name


def sentence_name(name: str) -> str:
    """A method as the verdict sentences name it: in capitals, compound names too
    (``MRFT-CONCAT``, ``CONTEXT-FREE``), as every committed report reads."""
    return name.upper()


def cell_text(value: Any) -> str:
    """A value as a table cell: stripped text, :data:`MISSING` for ``None`` or blank."""
    if value is None:
        return MISSING
    text = str(value).strip()
    return text if text else MISSING


def fmt(value: float, pattern: str) -> str:
    """``pattern.format(value)``; ``inf`` for +inf, :data:`MISSING` for other non-finite values."""
    if value is None or not math.isfinite(value):
        return "inf" if value == math.inf else MISSING
    return pattern.format(value)


def interval_text(point: float, low: float, high: float, pattern: str) -> str:
    return f"{fmt(point, pattern)} [{fmt(low, pattern)}, {fmt(high, pattern)}]"


def readable_number(value: float | None) -> str:
    """One value as :func:`readable_interval` writes its numbers; :data:`MISSING` for None."""
    if value is None:
        return MISSING
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def readable_interval(point: float, low: float, high: float, unit: str = "") -> str:
    """Three significant digits below 100, whole numbers above (returns of 1,000, not 1e+03),
    each number followed by ``unit`` (``%``)."""
    pattern = "{:,.0f}" if max(abs(point), abs(low), abs(high)) >= 100 else "{:.3g}"
    return interval_text(point, low, high, pattern + unit)


def percent(value: float) -> str:
    """Signed whole percent; a change that rounds to zero reads +0%, never -0%."""
    if not math.isfinite(value):
        return MISSING
    return f"{round(value) or 0:+d}%"


def change(value: float, base: float) -> str:
    """``value`` against ``base`` as a signed whole percent of ``|base|``."""
    if base == 0 or not math.isfinite(value) or not math.isfinite(base):
        return MISSING
    return percent((value - base) / abs(base) * 100)


def replace_between(text: str, markers: tuple[str, str], block: str, where: object) -> str:
    """``text`` with what stands between the two ``markers`` replaced by ``block`` (the
    markers kept), so a document shows what a result file says; an ``MrftError`` naming
    ``where`` when either marker is missing."""
    start, end = markers
    if start not in text or end not in text:
        raise MrftError(f"{where} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{block}\n{end}{rest.split(end, 1)[1]}"


def write_table_files(out: str | Path, stem: str, table: str, rows: Any, documents: dict) -> None:
    """``out/<stem>.md`` (the table) and ``out/<stem>.json`` (its rows), then each document's
    new text (``{path: text}``), every file written atomically. The documents' markers are
    checked before (by :func:`replace_between`), so a refusal leaves every file as it was."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{stem}.md", (table + "\n").encode())
    atomic_write_bytes(out / f"{stem}.json", json.dumps(rows, indent=2).encode())
    for path, text in documents.items():
        atomic_write_bytes(path, text.encode())


def read_result_json(path: str | Path, what: str) -> dict:
    """A result file written by ``mrft bench`` or ``mrft report``; an ``MrftError`` saying
    what it is and how to make it where it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MrftError(f"{path}: cannot read {what} ({exc}); run mrft bench and mrft report") from None
