"""`pql list` over hand-built snapshots (docs/snapshot.md): filters, sorting, formats and bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqlcli import export, leads
from pqlcli.errors import ExitCode, UsageError
from tests.factories.snapshot_factory import make_two_snapshots


@pytest.fixture
def snaps(ws_path: Path) -> tuple[Path, Path]:
    return make_two_snapshots(ws_path)


def _csv(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def test_default_order_is_tier_then_usage_then_fit(snaps):
    frame = leads.list_leads(snaps[1], "users", columns="user_id,tier,usage_score,fit_score,why")
    full = pl.read_parquet(snaps[1] / "users.parquet")
    assert frame.height == full.height
    keys = list(zip(frame["tier"], (-frame["usage_score"]).to_list(), (-frame["fit_score"]).to_list(), strict=True))
    assert keys == sorted(keys)


def test_why_alternates_usage_and_fit_biggest_first(snaps):
    frame = leads.list_leads(snaps[1], "users", columns="user_id,why")
    full = pl.read_parquet(snaps[1] / "users.parquet")
    row = full.filter(pl.col("user_id") == frame["user_id"][0]).row(0, named=True)

    def fired(kind):
        pairs = [(k.split("__", 1)[1], v) for k, v in row.items() if k.startswith(kind + "__") and v]
        return [f"{n} {'+' if v > 0 else '-'}{abs(v):.0f}" for n, v in sorted(pairs, key=lambda kv: (-abs(kv[1]), kv[0]))]

    usage, fit = fired("usage"), fired("fit")
    expected = [x for pair in zip(usage, fit, strict=False) for x in pair]
    expected += usage[len(fit):] + fit[len(usage):]
    assert frame["why"][0].split(", ") == expected[:3]
    mixed = leads.add_why(pl.DataFrame({"fit__big": [30.0], "fit__us": [20.0], "usage__a": [5.0], "usage__b": [25.0]}))
    assert mixed["why"][0] == "b +25, big +30, a +5"
    negative = leads.add_why(pl.DataFrame({"fit__a": [0.0], "usage__dormant": [-10.0], "usage__x": [2.5]}))
    assert negative["why"][0] == "dormant -10, x +2.5"
    assert leads.add_why(pl.DataFrame({"fit__a": [0.0]}))["why"][0] == ""


def test_owner_me_email_name_and_none(pql, snaps, monkeypatch):
    code, out, err = pql("list", "users", "--owner", "me")
    assert code == ExitCode.USAGE and "PQL_OWNER" in err
    monkeypatch.setenv("PQL_OWNER", "ANA@example.com")
    code, out, _ = pql("list", "users", "--owner", "me", "--format", "csv")
    rows = _csv(out)
    assert code == 0 and rows and {r["owner"] for r in rows} == {"ana@example.com"}
    code, out, _ = pql("list", "users", "--owner", "ana", "--format", "csv")
    assert len(_csv(out)) == len(rows)  # the local part of the owner's email matches too
    code, out, _ = pql("list", "users", "--owner", "bo chen", "--format", "csv")
    assert {r["owner"] for r in _csv(out)} == {"Bo Chen"}
    code, out, _ = pql("list", "accounts", "--owner", "none", "--format", "csv")
    assert code == 0 and _csv(out) and {r["owner"] for r in _csv(out)} == {""}


def test_owner_with_no_leads_is_empty_with_a_note(pql, snaps):
    code, out, err = pql("list", "users", "--owner", "nobody@example.com", "--format", "csv")
    assert code == 0
    assert out.strip().splitlines() == [out.strip()]  # the header only
    assert "No users owned by nobody@example.com" in err


def test_filters_tier_pql_where_signed_up_within(pql, snaps):
    full = pl.read_parquet(snaps[1] / "users.parquet")
    code, out, _ = pql("list", "users", "--tier", "1,2", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and {r["tier"] for r in rows} == {"tier1", "tier2"}
    assert len(rows) == full.filter(pl.col("tier").is_in(["tier1", "tier2"])).height
    code, out, _ = pql("list", "users", "--pql", "free_to_paid", "--columns", "user_id,pql__free_to_paid", "-f", "json")
    assert code == 0 and sorted(r["user_id"] for r in json.loads(out)) == sorted(full.filter("pql__free_to_paid")["user_id"]) != []
    code, out, _ = pql(
        "list", "users", "--where", "projects_30d >= 2 AND country IN ('US', 'GB')", "--columns", "user_id,projects_30d,country", "-f", "json"
    )
    rows = json.loads(out)
    assert rows and all(r["projects_30d"] >= 2 and r["country"] in ("US", "GB") for r in rows)
    code, out, _ = pql("list", "users", "--signed-up-within", "30d", "--columns", "user_id,signup_at", "-f", "csv")
    assert code == 0 and len(_csv(out)) == 10  # user j signed up 3j+1 days before as_of


def test_new_pqls_since_previous_snapshot(snaps):
    old = pl.read_parquet(snaps[0] / "users.parquet").filter("is_pql")["user_id"].to_list()
    now = pl.read_parquet(snaps[1] / "users.parquet").filter("is_pql")["user_id"].to_list()
    frame = leads.list_leads(snaps[1], "users", new=True, columns="user_id")
    assert sorted(frame["user_id"]) == sorted(set(now) - set(old))
    assert frame.height > 0


def test_sort_columns_limit(pql, snaps):
    code, out, _ = pql("list", "users", "--sort", "signup_at:asc", "--columns", "user_id,signup_at", "--limit", "3", "-f", "csv")
    rows = _csv(out)
    assert code == 0 and len(rows) == 3 and [r["signup_at"] for r in rows] == sorted(r["signup_at"] for r in rows)
    assert rows[0]["user_id"] == "u039"  # the earliest signup
    code, out, _ = pql("list", "accounts", "--sort", "fit_score,usage_score:asc", "--columns", "account_id,fit_score", "-f", "json")
    assert code == 0 and list(json.loads(out)[0]) == ["account_id", "fit_score"] and [r["account_id"] for r in json.loads(out)] == pl.read_parquet(snaps[1] / "accounts.parquet").sort(["fit_score", "usage_score"], descending=[True, False])["account_id"].to_list()  # fit ties


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--where", "projects_30d >"], "not a SQL condition"),
        (["--where", "nosuch > 1"], "unknown column 'nosuch'"),
        (["--where", "plan = 'free'; DROP TABLE users"], "not a SQL condition"),
        (["--sort", "nosuch"], "unknown column 'nosuch'"),
        (["--sort", "usage_score:sideways"], "asc or desc"),
        (["--columns", "user_id,nosuch"], "unknown column 'nosuch'"),
        (["--tier", "7"], "not a tier"),
        (["--pql", "nosuch"], "free_to_paid"),
        (["--signed-up-within", "soon"], "not a duration"),
        (["--out", "missing-dir/leads.csv"], "does not exist"),
    ],
)
def test_bad_flags_are_usage_errors(pql, snaps, args, needle):
    code, out, err = pql("list", "users", *args)
    assert code == ExitCode.USAGE, err
    assert needle in " ".join(err.split()), err
    assert "Traceback" not in err and out == ""


def test_unknown_column_error_names_the_columns_that_exist(snaps):
    with pytest.raises(UsageError) as info:
        leads.list_leads(snaps[1], "users", where="nosuch > 1")
    assert "projects_30d" in (info.value.hint or "")


def test_no_snapshot_says_run_score(pql, ws_path):
    code, _, err = pql("list", "users")
    assert code == ExitCode.DATA_ERROR and "pql score" in err


def test_csv_is_formula_safe_by_default(pql, snaps, tmp_path):
    code, out, _ = pql("list", "users", "--columns", "user_id,email,owner,why", "-f", "csv")
    rows = _csv(out)
    bad = [v for r in rows for v in r.values() if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert code == 0 and not bad
    assert any(r["owner"].startswith("'=cmd") for r in rows)
    code, out, _ = pql("list", "users", "--columns", "owner", "-f", "csv", "--no-csv-safe")
    assert any(r["owner"].startswith("=cmd") for r in _csv(out))


def test_out_files_in_every_format_agree(pql, snaps, tmp_path):
    frames = {}
    for ext in ("csv", "json", "jsonl", "parquet"):
        target = tmp_path / f"leads.{ext}"
        code, out, err = pql("list", "users", "--owner", "ana", "--out", str(target))
        assert code == 0 and out == "" and target.exists(), err
        frames[ext] = target
    ids = pl.read_parquet(frames["parquet"])["user_id"].to_list()
    assert [r["user_id"] for r in json.loads(frames["json"].read_text())] == ids
    assert [json.loads(line)["user_id"] for line in frames["jsonl"].read_text().splitlines()] == ids
    assert [r["user_id"] for r in _csv(frames["csv"].read_text())] == ids
    code, out, _ = pql("list", "users", "--owner", "ana", "-f", "json")
    assert [r["user_id"] for r in json.loads(out)] == ids


def test_table_when_piped_is_plain_and_untruncated(pql, snaps):
    code, out, _ = pql("list", "users", "--format", "table", "--limit", "3")
    assert code == 0 and "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["who", "company"]
    assert len(lines) == 4 and "…" not in out


def test_table_fits_80_columns_on_a_terminal(snaps):
    from rich.console import Console

    from pqlcli.render import terminal

    frame = leads.list_leads(snaps[1], "users", columns=leads.TABLE_COLUMNS["users"], limit=10)
    frame = frame.select(terminal.fit_columns(frame.columns, 80))
    console = Console(width=80, force_terminal=True, color_system="truecolor", record=True)
    console.print(terminal.lead_table(frame, tier_keys={}))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "tier1" in text and "█" in text and "+30" in text


def test_broken_pipe_exits_quietly(ws_path):
    from tests.factories.snapshot_factory import build_frames, write_snapshot

    users, accounts = build_frames(seed=3, n_users=20_000)  # more than a pipe buffer holds
    write_snapshot(ws_path, "20261101T000000000000Z", users, accounts)
    script = f"import sys; from pqlcli.cli.main import main; sys.exit(main(['--workspace', {str(ws_path)!r}, 'list', 'users', '-f', 'csv']))"
    big = subprocess.run(
        f"{sys.executable} -c \"{script}\" | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert big.stdout.startswith("user_id,") and "Traceback" not in big.stderr and "Error" not in big.stderr


def test_where_types_dates_and_non_conditions(pql, snaps):
    code, out, _ = pql("list", "users", "--where", "signup_at >= DATE '2026-10-02'", "--columns", "user_id", "-f", "csv")
    assert code == 0 and len(_csv(out)) == 10
    code, _, err = pql("list", "users", "--where", "employees = 'many'")
    assert code == ExitCode.USAGE and "different types" in err and "Traceback" not in err
    code, _, err = pql("list", "users", "--where", "employees")
    assert code == ExitCode.USAGE and "not a true/false condition" in err


def test_where_with_a_broken_regular_expression_says_so(pql, snaps):
    code, _, err = pql("list", "users", "--where", "title RLIKE '(ops'")
    assert code == ExitCode.USAGE and "Traceback" not in err
    assert "not a valid regular expression (error: unclosed group)" in err and "--where" in err
    assert "different types" not in err
    code, out, _ = pql("list", "users", "--where", "title RLIKE '\\(ops\\)|^'", "--columns", "user_id", "-f", "csv")
    assert code == 0 and len(_csv(out)) > 0  # escaped, the pattern works


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=8))
def test_csv_guard_neutralises_every_formula_cell(values):
    frame = pl.DataFrame({"v": values, "n": list(range(len(values)))})
    text = export.csv_safe(frame).write_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["n"] for r in rows] == [str(i) for i in range(len(values))]
    for raw, row in zip(values, rows, strict=True):
        assert row["v"][:1] not in ("=", "+", "-", "@", "\t", "\r")
        assert row["v"] in (raw, "'" + raw) or (raw == "" and row["v"] == "")


# ---- issue 15 part 3 / issue 9: errors in the library's words, names people actually type -----------------
def test_library_errors_name_the_parameter_and_the_cli_names_the_flag(pql, snaps):
    with pytest.raises(leads.ParameterError) as info:
        leads.list_leads(snaps[1], "users", sort="usage_scor")
    assert info.value.param == "sort" and "--" not in info.value.message
    assert "sort names unknown column 'usage_scor'" in info.value.message
    code, _, err = pql("list", "users", "--sort", "usage_scor")
    assert code == ExitCode.USAGE and "--sort names unknown column 'usage_scor'" in " ".join(err.split())


@pytest.mark.parametrize(
    ("args", "guess"),
    [
        (["--sort", "usage_scor:desc"], "Did you mean 'usage_score'?"),
        (["--columns", "user_id,emial"], "Did you mean 'email'?"),
        (["--tier", "tierr1"], "Did you mean 'tier1'?"),
    ],
)
def test_typos_get_did_you_mean(pql, snaps, args, guess):
    code, out, err = pql("list", "users", *args)
    assert code == ExitCode.USAGE and out == ""
    assert guess in " ".join(err.split()), err


def test_why_uses_an_ascii_minus_so_grep_finds_it(pql, snaps):
    code, out, _ = pql("list", "users", "--columns", "user_id,why", "-f", "csv")
    assert code == 0 and "−" not in out
    negative = [r["why"] for r in _csv(out) if "dormant" in r["why"]]
    assert negative and all("dormant -10" in why for why in negative)


def _rename(ws_path: Path, owner: dict[str, str] | None = None, names: dict[str, str] | None = None) -> Path:
    """A snapshot whose owners and/or tier names are renamed (tier names as a config's `tiers.names`)."""
    from tests.factories.snapshot_factory import build_frames, write_snapshot

    users, accounts = build_frames(seed=1)
    if owner:
        users = users.with_columns(pl.col("owner").replace(owner))
    if names:
        users = users.with_columns(pl.col("tier").replace(names))
        accounts = accounts.with_columns(pl.col("tier").replace(names))
    snap = write_snapshot(ws_path, "20261101T000000000000Z", users, accounts)
    if names:
        manifest = json.loads((snap / "manifest.json").read_text())
        manifest["tiers"]["names"] = names
        (snap / "manifest.json").write_text(json.dumps(manifest))
    return snap


def test_owner_ignores_case_and_accents(pql, ws_path):
    snap = _rename(ws_path, owner={"Bo Chen": "Inès Moreau"})
    expected = pl.read_parquet(snap / "users.parquet").filter(pl.col("owner") == "Inès Moreau")["user_id"].to_list()
    for spelling in ("ines moreau", "INES MOREAU", "Inès Moreau", "  inès moreau "):
        code, out, err = pql("list", "users", "--owner", spelling, "--columns", "user_id,owner", "-f", "csv")
        assert code == 0, err
        assert sorted(r["user_id"] for r in _csv(out)) == sorted(expected) and expected


def test_an_owner_nobody_has_lists_the_owners_that_exist(pql, snaps):
    code, out, err = pql("list", "users", "--owner", "bo chenn", "-f", "csv")
    text = " ".join(err.split())
    assert code == 0 and _csv(out) == []
    assert "No users owned by bo chenn" in text and "owners in this snapshot are" in text
    assert "Bo Chen" in text and "ana@example.com" in text
    # an owner who exists but has nothing under the other filters gets the plain note, no owner list
    code, _, err = pql("list", "users", "--owner", "bo chen", "--where", "projects_30d > 1000", "-f", "csv")
    assert code == 0 and "No users owned by bo chen" in err and "owners in this snapshot" not in err


def test_tier_accepts_configured_names_in_any_case(pql, ws_path):
    names = {"tier1": "Hot", "tier2": "Warm", "tier3": "Self-serve", "tier4": "Cold"}
    snap = _rename(ws_path, names=names)
    hot = pl.read_parquet(snap / "users.parquet").filter(pl.col("tier") == "Hot").height
    for spelling in ("Hot", "hot", "HOT", "1", "tier1"):
        code, out, err = pql("list", "users", "--tier", spelling, "--columns", "user_id,tier", "-f", "csv")
        assert code == 0, err
        rows = _csv(out)
        assert len(rows) == hot and {r["tier"] for r in rows} == {"Hot"}
    code, _, err = pql("list", "users", "--tier", "hott")
    assert code == ExitCode.USAGE and "Did you mean 'Hot'?" in " ".join(err.split())


def test_out_xlsx_is_refused_and_writes_nothing(pql, snaps, tmp_path):
    target = tmp_path / "leads.xlsx"
    code, out, err = pql("list", "users", "--out", str(target))
    assert code == ExitCode.USAGE and out == "" and not target.exists()
    assert "does not write Excel" in " ".join(err.split()) and "leads.csv" in err


def _terminal(width: int):
    from pqlcli.render import Environment

    return Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=True, stderr_isatty=False, colors=False, width=width)


def test_a_wide_terminal_shows_the_email_a_narrow_one_merges_it(ws_path, snaps):
    from pqlcli.cli.main import main

    first = leads.list_leads(snaps[1], "users", columns="email,name", limit=1).row(0, named=True)
    wide = _terminal(150)
    assert main(["--workspace", str(ws_path), "list", "users"], env=wide) == 0
    shown = wide.stdout.getvalue()
    assert "email" in shown.splitlines()[0] + shown.splitlines()[1] and first["email"] in shown
    narrow = _terminal(80)
    assert main(["--workspace", str(ws_path), "list", "users"], env=narrow) == 0
    shown = narrow.stdout.getvalue()
    assert first["email"] not in shown and first["name"] in shown
    assert max(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in shown.splitlines()) <= 80


def test_quiet_silences_notes_but_not_data(pql, snaps, tmp_path):
    target = tmp_path / "leads.csv"
    code, _, err = pql("list", "users", "--out", str(target))
    assert code == 0 and "Wrote" in err
    code, _, err = pql("--quiet", "list", "users", "--out", str(target))
    assert code == 0 and err == "" and target.read_text().startswith("user_id,")


def test_no_color_turns_colour_off_on_a_terminal(monkeypatch):
    from pqlcli.render import Environment

    monkeypatch.setenv("NO_COLOR", "1")
    assert Environment.from_system().colors is False
    monkeypatch.delenv("NO_COLOR")
    tty = Environment(stdout=io.StringIO(), stdout_isatty=True)
    assert tty.colors is True


def test_braces_in_user_text_reach_the_error_unchanged(pql, snaps):
    code, _, err = pql("list", "users", "--where", "{param} > 1")
    assert code == ExitCode.USAGE and "{param}" in err and "Traceback" not in err
