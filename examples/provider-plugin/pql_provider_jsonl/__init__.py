"""An example third-party pql provider: firmographics from a JSON Lines file.

Each line is one company, e.g.::

    {"domain": "acme.com", "company": "Acme", "headcount": 120, "hq": "United States", "vertical": "Retail"}

It shows the whole provider contract: a name, a description, the env var of its key (none here), nested
pydantic ``Options`` with ``extra="forbid"``, and ``lookup()`` yielding one record per domain, with
``not_found`` for unknown domains instead of an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import Field

from pqlcli.errors import DataError
from pqlcli.providers import Provider, ProviderOptions, Record, country_code, parse_amount, parse_range

__version__ = "0.1.0"


class JsonlOptions(ProviderOptions):
    # `pql enrich --provider jsonl --option path=companies.jsonl`, or env PQL_JSONL_PATH
    path: str = Field(description="JSON Lines file, one company per line.")
    currency_rate: float = Field(1.0, gt=0, description="Multiply money amounts by this to get USD.")


class JsonlProvider(Provider):
    """Firmographics from a JSON Lines file (example plugin)."""

    name = "jsonl"
    description = "Example plugin: firmographics from a JSON Lines file (option path)."
    key_env = None
    Options = JsonlOptions
    options: JsonlOptions

    def _companies(self) -> dict[str, dict]:
        path = Path(self.options.path)
        if not path.is_file():
            raise DataError(f"The JSON Lines file {path} does not exist.", "Pass it with --option path=FILE.")
        companies = {}
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    companies[str(row.get("domain", "")).strip().lower()] = row
        return companies

    def lookup(self, domains: Sequence[str]) -> Iterator[Record]:
        companies = self._companies()
        rate = self.options.currency_rate
        for domain in domains:
            row = companies.get(domain)
            if row is None:
                yield Record.not_found(domain, "not in the JSON Lines file")
                continue
            headcount = parse_amount(row.get("headcount"))
            if headcount is None and row.get("headcount_range"):
                headcount = parse_range(row["headcount_range"])[0]
            funding = parse_amount(row.get("funding"))
            revenue = parse_amount(row.get("revenue"))
            yield Record(
                domain=domain,
                name=row.get("company"),
                employees=None if headcount is None else int(headcount),
                employees_range=row.get("headcount_range"),
                raised=None if funding is None else funding * rate,
                annual_revenue=None if revenue is None else revenue * rate,
                country=country_code(None, row.get("hq")),
                industry=row.get("vertical"),
                extras={"jsonl_source": self.options.path},
            )
