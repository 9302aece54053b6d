"""Canonical tables: their columns, dtypes and required columns.

Extra columns in users/accounts are kept as traits usable in rules; numeric event properties are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class TableSchema:
    name: str
    key: str | None  # id column used to update rows on re-ingest
    required: tuple[str, ...]
    # canonical column -> polars dtype name ("str", "datetime", "int", "float")
    columns: dict[str, str] = field(default_factory=dict)


USERS = TableSchema(
    name="users",
    key="user_id",
    required=("user_id",),
    columns={
        "user_id": "str",
        "email": "str",
        "account_id": "str",
        "name": "str",
        "title": "str",
        "signup_at": "datetime",
        "plan": "str",
        "owner": "str",
        "converted_at": "datetime",
    },
)

ACCOUNTS = TableSchema(
    name="accounts",
    key="account_id",
    required=("account_id",),
    columns={
        "account_id": "str",
        "name": "str",
        "domain": "str",
        "plan": "str",
        "owner": "str",
        "created_at": "datetime",
        "converted_at": "datetime",
        "employees": "int",
    },
)

EVENTS = TableSchema(
    name="events",
    key="event_id",
    required=("user_id", "event", "timestamp"),
    columns={
        "event_id": "str",
        "user_id": "str",
        "account_id": "str",
        "event": "str",
        "timestamp": "datetime",
    },
)

FIRMOGRAPHICS = TableSchema(
    name="firmographics",
    key="domain",
    required=("domain",),
    columns={
        "domain": "str",
        "name": "str",
        "employees": "int",
        "employees_range": "str",
        "raised": "float",
        "annual_revenue": "float",
        "country": "str",
        "industry": "str",
        "provider": "str",
        "status": "str",
        "reason": "str",
        "fetched_at": "datetime",
    },
)

SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (USERS, ACCOUNTS, EVENTS, FIRMOGRAPHICS)}

# Timestamps are stored as UTC microseconds.
TIME_UNIT: Literal['us'] = 'us'
TIME_ZONE = "UTC"


def polars_dtype(kind: str):  # -> pl.DataType
    import polars as pl

    return {
        "str": pl.String,
        "int": pl.Int64,
        "float": pl.Float64,
        "datetime": pl.Datetime(TIME_UNIT, TIME_ZONE),
        "bool": pl.Boolean,
    }[kind]
