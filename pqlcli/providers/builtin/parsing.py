"""Normalising messy firmographics, shared by every built-in provider (and open to plugins).

Amounts (``"$10M"``, ``"1.5k"``, ``"1,000+"``), ranges (``"251-1K"``), country names or codes, the
Clearbit company JSON shape (:func:`parse_company`), firmographics rows (:func:`row_to_record`) and
firmographics files (:func:`read_firmographics`, CSV/Parquet/JSONL).
"""

from __future__ import annotations

import functools
import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pqlcli.errors import DataError
from pqlcli.providers.base import CANONICAL_FIELDS, Record

FILE_COLUMNS = "domain,name,employees,employees_range,raised,annual_revenue,country,industry"
_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_AMOUNT = re.compile(r"^\$?\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\+?$", re.IGNORECASE)
_BOOKKEEPING = ("status", "reason", "provider", "fetched_at")


def parse_amount(value: Any) -> float | None:
    """A number, or a string like ``"$10M"``, ``"1.5k"``, ``"1,000+"`` → float; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("_", "")
    m = _AMOUNT.match(text)
    if not m:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2).upper()]


def parse_range(value: Any) -> tuple[float | None, float | None]:
    """``"51-250"``, ``"251-1K"``, ``"10K-50K"``, ``"$10M-$50M"``, ``"1000+"`` → (low, high); case-insensitive."""
    if not isinstance(value, str):
        amount = parse_amount(value)
        return amount, amount
    text = value.strip().replace(",", "")
    if not text:
        return None, None
    if text.endswith("+"):
        return parse_amount(text[:-1]), None
    parts = re.split(r"\s*(?:-|–|to)\s*", text, maxsplit=1, flags=re.IGNORECASE)
    if len(parts) == 2:
        return parse_amount(parts[0]), parse_amount(parts[1])
    amount = parse_amount(text)
    return amount, amount


@functools.lru_cache(maxsize=4096)
def country_code(code: str | None, name: str | None) -> str | None:
    """ISO-3166 alpha-2 from a country code, else from a country name (via pycountry)."""
    if code and isinstance(code, str) and len(code.strip()) == 2 and code.strip().isalpha():
        return code.strip().upper()
    for text in (code, name):
        if not text or not isinstance(text, str):
            continue
        import pycountry

        try:
            return str(pycountry.countries.lookup(text.strip()).alpha_2)
        except LookupError:
            pass
        try:
            found = pycountry.countries.search_fuzzy(text.strip())
        except LookupError:
            continue
        if found:
            return str(found[0].alpha_2)
    return None


def text(value: Any) -> str | None:
    """A stripped, non-empty string, or None (nested objects and lists are None too)."""
    if value is None or isinstance(value, dict | list):
        return None
    out = str(value).strip()
    return out or None


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _employees(metrics: dict[str, Any]) -> tuple[int | None, str | None]:
    employees_raw = metrics.get("employees")
    range_text = text(metrics.get("employeesRange"))
    employees = _int(parse_amount(employees_raw))
    if employees is None and isinstance(employees_raw, str):
        # Drift: a range where a number belongs ("11-50"): keep the low end, and the text as the range.
        employees = _int(parse_range(employees_raw)[0])
        range_text = range_text or employees_raw.strip()
    if employees is None and range_text:
        employees = _int(parse_range(range_text)[0])
    return employees, range_text.upper() if range_text else None


def parse_company(domain: str, payload: dict[str, Any]) -> Record:
    """A Clearbit company JSON object → a normalised record (tolerates missing/null/drifted fields)."""
    metrics = _obj(payload.get("metrics"))
    geo = _obj(payload.get("geo"))
    category = _obj(payload.get("category"))
    employees, employees_range = _employees(metrics)
    revenue = parse_amount(metrics.get("annualRevenue"))
    estimated = text(metrics.get("estimatedAnnualRevenue"))
    if revenue is None and estimated:
        revenue = parse_range(estimated)[0]
    extras: dict[str, Any] = {}
    for key, column in (("sector", "sector"), ("industryGroup", "industry_group"), ("subIndustry", "sub_industry")):
        value = text(category.get(key))
        if value:
            extras[column] = value
    if estimated:
        extras["estimated_annual_revenue"] = estimated
    return Record(
        domain=domain,
        status="found",
        name=text(payload.get("name")),
        employees=employees,
        employees_range=employees_range,
        raised=parse_amount(metrics.get("raised")),
        annual_revenue=revenue,
        country=country_code(text(geo.get("countryCode")), text(geo.get("country"))),
        industry=text(category.get("industry")),
        extras=extras,
        fetched_at=datetime.now(UTC),
    )


def row_to_record(domain: str, row: dict[str, Any]) -> Record:
    """A firmographics-file row (columns as :data:`FILE_COLUMNS`, extras kept) → a normalised record."""
    employees = parse_amount(row.get("employees"))
    if employees is None and row.get("employees_range"):
        employees = parse_range(str(row["employees_range"]))[0]
    country = text(row.get("country"))
    extras = {k: v for k, v in row.items() if k not in CANONICAL_FIELDS and k not in _BOOKKEEPING}
    return Record(
        domain=domain,
        name=text(row.get("name")),
        employees=_int(employees),
        employees_range=text(row.get("employees_range")),
        raised=parse_amount(row.get("raised")),
        annual_revenue=parse_amount(row.get("annual_revenue")),
        country=country_code(country, country) if country else None,
        industry=text(row.get("industry")),
        extras={k: v for k, v in extras.items() if isinstance(v, str | int | float | bool) or v is None},
    )


def read_firmographics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a firmographics CSV/Parquet/JSONL file (columns as :data:`FILE_COLUMNS`, ``domain`` required)."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"The firmographics file {path} does not exist.",
            f"Point the provider at an existing CSV, Parquet or JSONL file with the columns {FILE_COLUMNS}.",
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path)
        else:
            frame = pl.read_csv(path, infer_schema_length=10000)
    except Exception as exc:
        raise DataError(f"Cannot read the firmographics file {path}: {exc}.", "Check that it is CSV, Parquet or JSONL.")
    if "domain" not in frame.columns:
        raise DataError(
            f"The firmographics file {path} has no 'domain' column (columns: {', '.join(frame.columns)}).",
            "Rename the column holding company domains to 'domain'.",
        )
    return frame.to_dicts()


def index_by_domain(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows keyed by their lower-cased, stripped ``domain`` (rows without one are skipped; the last wins)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        domain = str(row.get("domain") or "").strip().lower()
        if domain:
            out[domain] = row
    return out
