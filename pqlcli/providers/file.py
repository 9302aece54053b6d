"""``file``: firmographics straight from a CSV/Parquet/JSONL file, for teams that already bought the data.

The file has the columns of ``examples/data/firmographics.csv``:
``domain,name,employees,employees_range,raised,annual_revenue,country,industry``; other columns are kept as
provider extras. Domains missing from the file are ``not_found``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import Field

from pqlcli.providers.base import CANONICAL_FIELDS, Provider, ProviderOptions, Record
from pqlcli.providers.clearbit import country_code, parse_amount, parse_range


class FileOptions(ProviderOptions):
    path: str = Field(description="Firmographics CSV, Parquet or JSONL file (env PQL_FILE_PATH).")


class FileProvider(Provider):
    """Firmographics from a local file."""

    name = "file"
    description = "Firmographics from a local CSV/Parquet/JSONL file (option path, or PQL_FILE_PATH)."
    key_env = None
    Options = FileOptions
    options: FileOptions

    def __init__(self, options: ProviderOptions | None = None):
        super().__init__(options)
        self._index: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            from pqlcli.providers.stub import read_firmographics

            index: dict[str, dict[str, Any]] = {}
            for row in read_firmographics(self.options.path):
                domain = str(row.get("domain") or "").strip().lower()
                if domain:
                    index[domain] = row
            self._index = index
        return self._index

    def lookup(self, domains: Sequence[str]) -> Iterator[Record]:
        index = self._load()
        for domain in dict.fromkeys(domains):
            row = index.get(domain)
            if row is None:
                yield Record.not_found(domain, "not in the file")
                continue
            yield row_to_record(domain, row)


def row_to_record(domain: str, row: dict[str, Any]) -> Record:
    employees = parse_amount(row.get("employees"))
    if employees is None and row.get("employees_range"):
        employees = parse_range(str(row["employees_range"]))[0]
    country = row.get("country")
    extras = {k: v for k, v in row.items() if k not in CANONICAL_FIELDS and k not in ("status", "reason", "provider", "fetched_at")}
    return Record(
        domain=domain,
        name=_text(row.get("name")),
        employees=None if employees is None else int(employees),
        employees_range=_text(row.get("employees_range")),
        raised=parse_amount(row.get("raised")),
        annual_revenue=parse_amount(row.get("annual_revenue")),
        country=country_code(_text(country), _text(country)) if country else None,
        industry=_text(row.get("industry")),
        extras={k: v for k, v in extras.items() if isinstance(v, str | int | float | bool) or v is None},
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
