"""One duration parser with one unit table (`m` minutes, `mo` months) for config, --ttl, --signed-up-within."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqlcli.util.durations import UNITS, DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("3mo", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(days=14)),
        ("1y", timedelta(days=365)),
        ("30", timedelta(days=30)),
        (" 7 D ", timedelta(days=7)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_units(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "3x", "5 months", "-1d", "1.5.2d", "nan"])
def test_rejects(text):
    with pytest.raises(DurationError):
        parse_duration(text)


def test_options():
    with pytest.raises(DurationError, match="no unit"):
        parse_duration("30", default_unit=None)
    with pytest.raises(DurationError, match="whole number"):
        parse_duration("1.5d", integer=True)
    with pytest.raises(DurationError, match="positive"):
        parse_duration("0d", allow_zero=False)
    with pytest.raises(DurationError, match="m = minutes, mo = months"):
        parse_duration("3months")
    assert parse_duration("0") == timedelta(0)


@given(st.integers(0, 10**6), st.sampled_from(sorted(UNITS)))
def test_round_trip(n, unit):
    assert parse_duration(f"{n}{unit}").total_seconds() == pytest.approx(n * UNITS[unit])


def test_the_same_units_everywhere(pql, ws_path):
    """`3m` is three minutes in the config; months are `mo` in --signed-up-within (a usage error otherwise)."""
    from pqlcli.config import loads

    cfg = loads("version: 1\nmetrics:\n  m: {event: login, window: 90m}\n  q: {event: login, window: 3mo}\n")
    assert cfg.config.metrics["m"].window_td == timedelta(minutes=90)
    assert cfg.config.metrics["q"].window_td == timedelta(days=90)
    from tests.factories.snapshot_factory import make_two_snapshots

    make_two_snapshots(ws_path)
    code, _, err = pql("list", "users", "--signed-up-within", "3months")
    assert code == 2 and "mo" in err
    code, out, err = pql("list", "users", "--signed-up-within", "3mo", "--format", "csv")
    assert out.startswith("user_id") or "," in out
    assert code == 0, err
