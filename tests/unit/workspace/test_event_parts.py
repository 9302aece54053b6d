"""The events table's parts read as one table: runs of parts with the same columns are one scan, parts
with other columns (event properties another export had) are aligned by name, in part order."""

from __future__ import annotations

import polars as pl

from pqlcli.workspace import Workspace


def _part(ws: Workspace, name: str, rows: dict[str, list]) -> None:
    ws.add_part("events", pl.LazyFrame(rows), name)


def test_parts_with_other_columns_are_aligned_by_name_in_part_order(tmp_path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    _part(ws, "00001", {"user_id": ["a"], "seats": [1]})
    _part(ws, "00002", {"user_id": ["b"], "seats": [2]})
    _part(ws, "00003", {"user_id": ["c"], "seats": [3], "amount": [9.5]})  # a property the others lack
    _part(ws, "00004", {"seats": [4], "user_id": ["d"]})  # the same columns in another order
    _part(ws, "00005", {"user_id": ["e"], "seats": [5]})
    got = ws.scan("events").collect()
    assert got["user_id"].to_list() == ["a", "b", "c", "d", "e"]
    assert got["seats"].to_list() == [1, 2, 3, 4, 5]
    assert got["amount"].to_list() == [None, None, 9.5, None, None]
    assert ws.scan("events").collect_schema() == got.schema


def test_a_part_rewritten_with_other_columns_is_read_with_them(tmp_path):
    # footers are cached by path, modification time and size: a file replaced under the same name is re-read
    ws = Workspace.open(tmp_path / "ws", create=True)
    _part(ws, "00001", {"user_id": ["a"], "seats": [1]})
    _part(ws, "00002", {"user_id": ["b"], "seats": [2]})
    assert ws.scan("events").collect().width == 2
    path = ws.table_files("events")[1]
    pl.DataFrame({"user_id": ["b"], "seats": [2], "plan_name": ["team"]}).write_parquet(path)
    got = ws.scan("events").collect()
    assert got["plan_name"].to_list() == [None, "team"]
