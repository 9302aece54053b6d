"""`pql notify` against a real HTTP receiver on loopback: batches, retries, kills, concurrency, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pqlcli.delivery import notify
from pqlcli.delivery.state import Journal
from pqlcli.errors import ExitCode
from pqlcli.workspace import Workspace
from tests import paths
from tests.factories.snapshot_factory import build_frames, write_snapshot
from tests.factories.webhook_receiver import Receiver

ROOT = paths.ROOT
FIRST = "20261101T000000000000Z"


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def pqls(ws_path: Path) -> list[str]:
    """A snapshot with 35 user PQLs; returns their ids."""
    users, accounts = build_frames(seed=1, n_accounts=20, n_users=200)
    write_snapshot(ws_path, FIRST, users, accounts)
    return sorted(users.filter(pl.col("is_pql"))["user_id"].to_list())


def _fast(*extra: str) -> list[str]:
    return ["notify", "--batch", "10", "--retries", "3", "--timeout", "5", *extra]


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch):
    monkeypatch.setattr(notify, "BACKOFF", 0.05)


def test_each_pql_is_sent_once_in_batches_with_the_json_schema(pql, pqls, receiver, ws_path):
    code, _, err = pql(*_fast("--webhook", receiver.url))
    assert code == 0, err
    assert receiver.record_ids(dedupe=False) == Counter(pqls)
    assert [len(r.body["records"]) for r in receiver.requests] == [10, 10, 10, 5]
    keys = [r.key for r in receiver.requests]
    assert len(set(keys)) == 4 and all(k and len(k) == 32 for k in keys)
    body = receiver.requests[0].body
    assert set(body) == {"definition", "level", "owner", "records"}
    assert (body["definition"], body["level"], body["owner"]) == ("free_to_paid", "user", None)
    assert set(body["records"][0]) == {"id", "email", "name", "account", "tier", "fit_score", "usage_score", "why", "snapshot"}
    first = body["records"][0]
    assert first["tier"] == "tier1" and first["snapshot"] == FIRST and first["why"]
    from pqlcli import leads

    expected_why = leads.list_leads(ws_path / "scores" / FIRST, "users", columns="user_id,why")
    assert first["why"] == dict(expected_why.iter_rows())[first["id"]]  # the same "why" as `pql list`
    assert "Sent 35 records in 4 batches" in err

    code, _, err = pql(*_fast("--webhook", receiver.url))
    assert code == 0 and len(receiver.requests) == 4 and "Nothing new to send" in err


def test_a_new_snapshot_sends_only_the_new_pqls(pql, pqls, receiver, ws_path):
    assert pql(*_fast("--webhook", receiver.url))[0] == 0
    users, accounts = build_frames(seed=1, n_accounts=20, n_users=260)
    write_snapshot(ws_path, "20261102T000000000000Z", users, accounts)
    now = set(users.filter(pl.col("is_pql"))["user_id"].to_list())
    assert pql(*_fast("--webhook", receiver.url))[0] == 0
    assert receiver.record_ids(dedupe=False) == Counter(pqls) + Counter(now - set(pqls))


def test_500s_are_retried_with_the_same_key(pql, pqls, receiver):
    receiver.faults = {1: 500, 2: 503}
    code, _, err = pql(*_fast("--webhook", receiver.url))
    assert code == 0, err
    assert [r.status for r in receiver.requests[:3]] == [500, 503, 200]
    assert len({r.key for r in receiver.requests[:3]}) == 1
    assert receiver.record_ids(dedupe=False) == Counter(pqls)


def test_429_honours_retry_after(pql, pqls, receiver):
    receiver.faults = {1: (429, "1")}
    assert pql(*_fast("--webhook", receiver.url))[0] == 0
    first, second = receiver.requests[:2]
    assert first.status == 429 and first.key == second.key
    assert second.at - first.at >= 0.95  # waited as asked, not the 0.05 s backoff
    assert receiver.record_ids(dedupe=False) == Counter(pqls)


def test_slow_answers_within_the_timeout_are_fine_and_timeouts_resend_the_same_key(pql, pqls, receiver):
    receiver.faults = {1: ("slow", 0.3), 3: ("slow", 2.0)}
    code, _, err = pql(*_fast("--webhook", receiver.url, "--timeout", "0.8"))
    assert code == 0, err
    assert receiver.requests[2].key == receiver.requests[3].key  # the timed-out batch, sent again
    assert receiver.record_ids(dedupe=True) == Counter(pqls)
    raw = receiver.record_ids(dedupe=False)
    assert {i for i, n in raw.items() if n == 2} == {rec["id"] for rec in receiver.requests[2].body["records"]}


def test_failure_after_retries_exits_3_and_the_rerun_sends_only_what_is_pending(pql, pqls, receiver, ws_path):
    receiver.faults = {2: 500, 3: 500}
    code, _, err = pql(*_fast("--webhook", receiver.url, "--retries", "1"))
    assert code == ExitCode.PROVIDER
    assert "batch 2 of 4" in err and "HTTP 500 after 2 attempts" in err
    assert "Delivered in this run: 10 records in 1 batches" in err and "15 more pending" in err
    journal = Journal.load(ws_path)
    assert journal.in_flight is not None and journal.in_flight["key"] == receiver.requests[1].key
    assert receiver.record_ids(dedupe=False) == Counter(pqls[:0] + [r["id"] for r in receiver.requests[0].body["records"]])

    code, _, err = pql(*_fast("--webhook", receiver.url))
    assert code == 0, err
    assert receiver.requests[3].key == receiver.requests[1].key  # the failed batch first, same key
    assert receiver.record_ids(dedupe=False) == Counter(pqls)
    assert "re-sent from an interrupted run" in err


def _spawn(ws_path: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PQL_WEBHOOK_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "pqlcli", "--workspace", str(ws_path), *_fast(*extra)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _assert_at_most_one_batch_twice(receiver: Receiver, pqls: list[str]) -> None:
    assert receiver.record_ids(dedupe=True) == Counter(pqls)
    raw = receiver.record_ids(dedupe=False)
    twice = {i for i, n in raw.items() if n > 1}
    assert all(n <= 2 for n in raw.values())
    if twice:
        keys = Counter(r.key for r in receiver.accepted())
        again = [k for k, n in keys.items() if n == 2]
        assert len(again) == 1  # one batch, with the same key both times
        batch = next(r for r in receiver.accepted() if r.key == again[0])
        assert twice == {rec["id"] for rec in batch.body["records"]}


def test_sigkill_during_a_batch_resends_that_batch_only_with_the_same_key(pql, pqls, receiver, ws_path):
    release = threading.Event()
    receiver.faults = {2: ("hold", release)}
    proc = _spawn(ws_path, receiver.url)
    _wait_for(lambda: len(receiver.requests) == 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    release.set()
    held = receiver.requests[1]
    # new data arrives before the rerun: the batches would now be cut differently
    users, accounts = build_frames(seed=1, n_accounts=20, n_users=260)
    write_snapshot(ws_path, "20261102T000000000000Z", users, accounts)
    now = sorted(users.filter(pl.col("is_pql"))["user_id"].to_list())
    code, _, err = pql(*_fast())  # PQL_WEBHOOK_URL is not set here: pass it
    assert code == ExitCode.USAGE and "PQL_WEBHOOK_URL" in err
    code, _, err = pql(*_fast("--webhook", receiver.url))
    assert code == 0, err
    assert receiver.requests[2].key == held.key and receiver.requests[2].body == held.body
    assert set(pqls) < set(now)
    _assert_at_most_one_batch_twice(receiver, now)


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.05])
def test_sigkill_at_any_point_between_batches_never_sends_twice_beyond_one_batch(pql, pqls, receiver, ws_path, delay):
    proc = _spawn(ws_path, receiver.url)
    _wait_for(lambda: len(receiver.requests) >= 2)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    code, _, err = pql(*_fast("--webhook", receiver.url))
    assert code == 0, err
    _assert_at_most_one_batch_twice(receiver, pqls)


def test_two_concurrent_runs_never_double_send(pqls, receiver, ws_path):
    receiver.faults = {n: ("slow", 0.2) for n in range(1, 5)}
    runs = [_spawn(ws_path, receiver.url), _spawn(ws_path, receiver.url)]
    outcomes = [(p.wait(60), p.stderr.read() if p.stderr else "") for p in runs]
    assert receiver.record_ids(dedupe=False) == Counter(pqls)  # not even the same key twice
    assert sorted(code for code, _ in outcomes)[0] == 0
    for code, err in outcomes:
        assert code == 0 or (code == ExitCode.DATA_ERROR and "Another delivery run is in progress" in err), err


def test_the_webhook_url_never_appears_even_with_debug(pql, pqls, receiver, ws_path, monkeypatch):
    receiver.faults = {n: 500 for n in range(1, 10)}
    secret_path = receiver.path
    code, out, err = pql("--debug", *_fast("--webhook", receiver.url, "--retries", "0"))
    assert code == ExitCode.PROVIDER
    assert "HTTP 500" in err and receiver.url not in out + err and secret_path not in out + err
    assert "xoxbsecrettoken42" not in out + err
    monkeypatch.setenv("PQL_WEBHOOK_URL", receiver.url.replace("127.0.0.1", "localhost").replace(
        str(receiver.server.server_address[1]), "9"))  # nothing listens on port 9
    code, out, err = pql("--debug", *_fast("--retries", "0"))
    assert code == ExitCode.PROVIDER and "network error" in err
    assert "xoxbsecrettoken42" not in out + err and "localhost:9" not in out + err
    code, out, err = pql("--debug", "notify", "--webhook", "htp:/[xoxbsecrettoken42")
    assert code == ExitCode.USAGE and "xoxbsecrettoken42" not in out + err
    assert "xoxbsecrettoken42" not in (ws_path / "delivery" / "notify.json").read_text()


def test_the_webhook_url_is_redacted_from_http_logs(pql, pqls, receiver, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        assert pql(*_fast("--webhook", receiver.url, "--max", "1"))[0] == 0
    assert "HTTP Request: POST" in caplog.text  # httpx did log the request...
    assert "xoxbsecrettoken42" not in caplog.text and receiver.url not in caplog.text  # ...without the URL


def test_max_caps_a_run_and_the_rest_waits(pql, pqls, receiver):
    code, _, err = pql(*_fast("--webhook", receiver.url, "--max", "12"))
    assert code == 0 and "23 more records are pending" in err
    assert sum(receiver.record_ids(dedupe=False).values()) == 12
    assert pql(*_fast("--webhook", receiver.url))[0] == 0
    assert receiver.record_ids(dedupe=False) == Counter(pqls)


def test_slack_template_grouped_by_owner(pql, pqls, receiver):
    code, _, err = pql(*_fast("--webhook", receiver.url, "--template", "slack", "--group-by", "owner"))
    assert code == 0, err
    seen = []
    for r in receiver.requests:
        body = r.body
        assert set(body) == {"text", "blocks"} and body["blocks"][0]["type"] == "header"
        assert len(body["blocks"]) <= 50
        leads = body["blocks"][1:]
        seen += leads
        assert body["text"].startswith(f"{len(leads)} new PQL")
    assert len(seen) == len(pqls)
    owners = [r.body["text"].split(" · ")[-1] for r in receiver.requests]
    users = pl.read_parquet(next((Path.cwd() / "ws" / "scores").iterdir()) / "users.parquet").filter(pl.col("is_pql"))
    per_owner = Counter(o if o else "unowned" for o in users["owner"].to_list())
    assert Counter(owners) == {o: -(-n // 10) for o, n in per_owner.items()}  # batches of 10, never mixing reps
    for r in receiver.requests:
        owner = r.body["text"].split(" · ")[-1]
        emails = set(users.filter(pl.col("owner").fill_null("unowned") == owner)["email"].to_list())
        shown = [b["text"]["text"].split(" · ")[1].split("\n")[0] for b in r.body["blocks"][1:]]
        assert set(shown) <= emails
    text = "\n".join(b["text"]["text"] for b in seen)
    assert "fit " in text and "usage " in text and "@" in text


def test_slack_text_is_escaped():
    body = notify.slack_body("d", "users", None, [{
        "id": "u1", "email": "a@b.co", "name": "<!channel> & co", "account": "Acme", "tier": "tier1",
        "fit_score": 80.0, "usage_score": 55.5, "why": "invites +30", "snapshot": "s"}])
    line = body["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; &amp; co" in line and "<!channel>" not in line
    assert "fit 80 · usage 55.5" in line and "_invites +30_" in line


def test_dry_run_prints_payloads_and_records_nothing(pql, pqls, ws_path):
    code, out, err = pql(*_fast("--dry-run"))
    assert code == 0, err
    bodies = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["id"] for b in bodies for r in b["records"]) == pqls
    assert not (ws_path / "delivery" / "notify.json").exists()
    assert "Dry run: 4 payloads, 35 records" in err


def test_renotify_after_a_record_leaves_and_reenters(ws_path, receiver):
    users, accounts = build_frames(seed=1, n_accounts=20, n_users=40)
    ws = Workspace.open(ws_path)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    opts = notify.NotifyOptions(retries=0, renotify_after=timedelta(days=30))

    def run_with(frame: pl.DataFrame, stamp: str, when: datetime) -> list[str]:
        write_snapshot(ws_path, stamp, frame, accounts)
        before = len(receiver.requests)
        notify.notify(ws_path, ws.snapshot("latest"), receiver.url, opts, now=when)
        return sorted(rec["id"] for r in receiver.requests[before:] for rec in r.body["records"])

    first = run_with(users, "20261101T000000000000Z", t0)
    leaver = first[0]
    without = users.with_columns(pql__free_to_paid=pl.col("pql__free_to_paid") & (pl.col("user_id") != leaver))
    without = without.with_columns(is_pql=pl.col("pql__free_to_paid"))
    assert run_with(without, "20261102T000000000000Z", t0 + timedelta(days=1)) == []
    assert run_with(users, "20261103T000000000000Z", t0 + timedelta(days=2)) == []  # back, but too soon
    assert run_with(users, "20261231T000000000000Z", t0 + timedelta(days=31)) == [leaver]
    assert run_with(users, "20270301T000000000000Z", t0 + timedelta(days=90)) == []  # it has not left again


def test_unknown_definition_and_no_snapshot(pql, ws_path, receiver):
    code, _, err = pql("notify", "--webhook", receiver.url)
    assert code == ExitCode.DATA_ERROR and "no scores yet" in err
    users, accounts = build_frames(seed=1)
    write_snapshot(ws_path, FIRST, users, accounts)
    code, _, err = pql("notify", "--webhook", receiver.url, "--definition", "nope")
    assert code == ExitCode.USAGE and "Definitions for users: free_to_paid" in err
    code, _, err = pql("notify", "--webhook", receiver.url, "--level", "account", "--dry-run")
    assert code == 0, err
    assert not receiver.requests
