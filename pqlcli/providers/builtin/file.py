"""``file``: firmographics straight from a CSV/Parquet/JSONL file, for teams that already bought the data.

The file has the columns ``domain,name,employees,employees_range,raised,annual_revenue,country,industry``;
other columns are kept as provider extras. Domains missing from the file are ``not_found``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import Field

from pqlcli.providers.base import Provider, ProviderOptions, Record
from pqlcli.providers.builtin.parsing import index_by_domain, read_firmographics, row_to_record


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

    def lookup(self, domains: Sequence[str]) -> Iterator[Record]:
        if self._index is None:
            self._index = index_by_domain(read_firmographics(self.options.path))
        for domain in dict.fromkeys(domains):
            row = self._index.get(domain)
            yield Record.not_found(domain, "not in the file") if row is None else row_to_record(domain, row)
