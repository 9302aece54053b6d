"""`pql enrich`: domains, cache and TTL, batched saves, resume after a kill, secrets, plugins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pytest

from pqlcli.enrich import EnrichmentFailed, collect_domains, enrich, parse_ttl
from pqlcli.errors import ExitCode
from pqlcli.providers.base import Provider, Record
from pqlcli.providers.builtin.stub import StubOptions, StubProvider
from pqlcli.providers.builtin.stub_server import StubServer
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import FIRMOGRAPHICS, polars_dtype
from tests import paths

KEY = "sk_live_NEVER_PRINT_ME_42"
ROOT = paths.ROOT


def make_ws(path: Path, domains: list[str | None], users: dict | None = None) -> Workspace:
    ws = Workspace.open(path, create=True)
    ws.write_table("accounts", pl.DataFrame({
        "account_id": [str(i) for i in range(len(domains))], "name": [f"A{i}" for i in range(len(domains))],
        "domain": domains}, schema_overrides={"domain": pl.String}))
    if users is not None:
        ws.write_table("users", pl.DataFrame(users, schema_overrides={"account_id": pl.String}))
    return ws


def firmo_csv(path: Path, n: int = 50) -> Path:
    rows = [f"c{i:03d}.com,C{i},{10 * i},US,Software" for i in range(n)]
    path.write_text("domain,name,employees,country,industry\n" + "\n".join(rows) + "\n")
    return path


def test_collect_domains(tmp_path):
    ws = make_ws(tmp_path / "ws", ["https://www.Acme.com/about", " beta.io ", None, "acme.com"], users={
        "user_id": ["u1", "u2", "u3", "u4", "u5"],
        "email": ["x@gmail.com", "y@Gamma.co", "z@beta.io", "w@delta.dev", "v@yahoo.com"],
        "account_id": [None, None, "1", "99", ""],
    })
    # u1/u5: free email skipped; u3 has an account; u4's account does not exist: its domain counts
    assert collect_domains(ws) == ["acme.com", "beta.io", "delta.dev", "gamma.co"]


def test_enrich_writes_found_and_not_found_with_schema(tmp_path):
    data = firmo_csv(tmp_path / "f.csv")
    ws = make_ws(tmp_path / "ws", ["c001.com", "c002.com", "nowhere.org"])
    result = enrich(ws, "stub", {"data": str(data)})
    assert (result.found, result.not_found, result.errors, result.looked_up) == (2, 1, 0, 3)
    table = ws.scan("firmographics").collect()
    for column, kind in FIRMOGRAPHICS.columns.items():
        assert table.schema[column] == polars_dtype(kind), column
    assert table.get_column("domain").to_list() == ["c001.com", "c002.com", "nowhere.org"]
    assert table.get_column("status").to_list() == ["found", "found", "not_found"]
    assert set(table.get_column("provider")) == {"stub"}
    assert table.filter(pl.col("domain") == "c002.com").get_column("employees").item() == 20


def test_cache_ttl_and_refresh(tmp_path):
    data = firmo_csv(tmp_path / "f.csv")
    ws = make_ws(tmp_path / "ws", ["c001.com", "c002.com", "nowhere.org"])
    provider = StubProvider(StubOptions(data=str(data)))
    first = enrich(ws, provider=provider)
    assert first.looked_up == 3 and provider.requests == 3
    again = enrich(ws, provider=provider)
    assert (again.looked_up, again.cached, provider.requests) == (0, 3, 3)  # not-found is cached too
    expired = enrich(ws, provider=provider, ttl_days=0)
    assert expired.looked_up == 3 and provider.requests == 6
    forced = enrich(ws, provider=provider, refresh=True)
    assert forced.looked_up == 3 and provider.requests == 9
    assert ws.scan("firmographics").collect().height == 3  # one row per domain, latest wins


def test_transient_errors_are_asked_again(tmp_path):
    data = firmo_csv(tmp_path / "f.csv")
    ws = make_ws(tmp_path / "ws", ["c001.com", "c002.com"])
    broken = StubProvider(StubOptions(data=str(data), fail_rate=1.0, max_retries=0, give_up_after=100))
    with pytest.raises(EnrichmentFailed) as info:  # the library's policy: every lookup failed
        enrich(ws, provider=broken)
    assert info.value.result.errors == 2 and info.value.exit_code == ExitCode.PROVIDER
    assert set(ws.scan("firmographics").collect().get_column("status")) == {"error"}  # saved first
    healthy = enrich(ws, "stub", {"data": str(data)})
    assert healthy.looked_up == 2 and healthy.found == 2


class Interrupting(Provider):
    name = "interrupting"

    def lookup(self, domains: Sequence[str]) -> Iterator[Record]:
        for i, domain in enumerate(domains):
            if i == 30:
                raise KeyboardInterrupt
            yield Record(domain=domain, name=domain)


def test_ctrl_c_saves_what_arrived(tmp_path):
    ws = make_ws(tmp_path / "ws", [f"d{i:03d}.com" for i in range(100)])
    with pytest.raises(KeyboardInterrupt):
        enrich(ws, provider=Interrupting(), batch_size=1000)
    assert ws.scan("firmographics").collect().height == 30


def test_kill_mid_run_then_resume_without_repeating_lookups(tmp_path):
    domains = [f"c{i:03d}.com" for i in range(300)]
    rows = [{"domain": d, "name": d, "employees": 5} for d in domains]
    ws_path = tmp_path / "ws"
    ws = make_ws(ws_path, domains)
    table = ws.table_path("firmographics")
    # The server answers 60 requests, then holds every answer: the run cannot finish before the kill,
    # and the client has exactly 60 answers, saved in batches of 20.
    with StubServer(rows, pause_after=60) as server:
        env = {**os.environ, "PQL_CLEARBIT_URL": server.url, "CLEARBIT_API_KEY": KEY}
        proc = subprocess.Popen(
            [sys.executable, "-m", "pqlcli", "-w", str(ws_path), "enrich", "--provider", "clearbit",
             "--option", "rate_limit=0", "--option", "concurrency=4", "--batch-size", "20"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert server.paused.wait(120), "the client never got past 60 requests"
        hang_guard = time.monotonic() + 120  # not a timing assumption: the saved count cannot change after 60
        while _saved_rows(table) < 60:  # the 60 answers are in the client; their last batch is being written
            assert proc.poll() is None, "the run ended although the server holds its answers"
            assert time.monotonic() < hang_guard, "the answers received were never saved"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        saved = set(pl.read_parquet(table).get_column("domain"))
        assert len(saved) == 60, "everything answered before the kill is saved, nothing more"
        first = Counter(server.asked)
        server.resume()

        os.environ["PQL_CLEARBIT_URL"] = server.url
        os.environ["CLEARBIT_API_KEY"] = KEY
        try:
            result = enrich(ws, "clearbit", {"rate_limit": "0", "concurrency": "8"})
        finally:
            del os.environ["PQL_CLEARBIT_URL"], os.environ["CLEARBIT_API_KEY"]
        second = Counter(server.asked) - first
    assert set(second).isdisjoint(saved)  # nothing saved is asked again
    assert set(second) == set(domains) - saved and set(second.values()) == {1}
    assert result.cached == len(saved) and result.looked_up == 300 - len(saved)
    final = ws.scan("firmographics").collect()
    assert final.height == 300 and set(final.get_column("status")) == {"found"}


def _saved_rows(table: Path) -> int:
    try:
        return pl.read_parquet(table).height if table.exists() else 0
    except (pl.exceptions.ComputeError, OSError):
        return 0  # replaced (atomically) between polars' open and read: ask again


def test_cli_enrich_and_summary(pql, ws_path, tmp_path):
    data = firmo_csv(tmp_path / "f.csv")
    make_ws(ws_path, ["c001.com", "unknown.net"])
    code, out, err = pql("enrich", "--option", f"data={data}", "--ttl", "7d")
    assert code == 0, err
    assert "1 found" in err and "1 not found" in err and "lookups/s" in err
    assert out == ""  # data to stdout only; this command prints its summary on stderr
    code, _, err = pql("enrich", "--option", f"data={data}")
    assert code == 0 and "2 cached" in err


def test_cli_unknown_provider_and_bad_options(pql, ws_path):
    make_ws(ws_path, ["a.com"])
    code, _, err = pql("enrich", "--provider", "clearbt")
    assert code == ExitCode.USAGE and "Did you mean 'clearbit'" in err and "stub" in err
    code, _, err = pql("enrich", "--option", "concurency=3")
    assert code == ExitCode.USAGE and "concurency" in err and "concurrency" in err
    code, _, err = pql("enrich", "--ttl", "soon")
    assert code == ExitCode.USAGE


def test_api_key_never_appears_in_output_even_with_debug(pql, ws_path, monkeypatch):
    make_ws(ws_path, ["c001.com", "c002.com"])
    with StubServer([{"domain": "c001.com"}], api_key="another-key") as server:
        monkeypatch.setenv("PQL_CLEARBIT_URL", server.url)
        monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
        code, out, err = pql("--debug", "enrich", "--provider", "clearbit")
        assert code == ExitCode.PROVIDER and "rejected the API key" in err
        assert KEY not in out + err
        monkeypatch.delenv("CLEARBIT_API_KEY")
        option_key = "opt-key-" + KEY[::-1]
        code, out, err = pql("--debug", "enrich", "--provider", "clearbit", "--option", f"api_key={option_key}")
        assert code == ExitCode.PROVIDER and option_key not in out + err


LEAKY_PLUGIN = '''
import httpx
from pqlcli.providers.builtin.clearbit import ClearbitProvider


class Echoing(httpx.AsyncBaseTransport):
    """A proxy that fails, quoting the request's headers in its error (as some do)."""

    error = httpx.ConnectError

    async def handle_async_request(self, request):
        raise self.error(f"proxy refused the request with {request.headers['authorization']}", request=request)


class Crashing(Echoing):
    async def handle_async_request(self, request):
        raise RuntimeError(f"proxy refused the request with {request.headers['authorization']}")


class LeakyProvider(ClearbitProvider):
    name = "leaky"

    def __init__(self, options=None):
        super().__init__(options, transport=Echoing())


class CrashingProvider(ClearbitProvider):
    name = "crashing"

    def __init__(self, options=None):
        super().__init__(options, transport=Crashing())
'''


def _install_leaky_plugin(site: Path, monkeypatch) -> None:
    dist = site / "pql_leaky_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pql-leaky-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[pqlcli.providers]\nleaky = pql_leaky_mod:LeakyProvider\ncrashing = pql_leaky_mod:CrashingProvider\n"
    )
    (site / "pql_leaky_mod.py").write_text(LEAKY_PLUGIN)
    monkeypatch.syspath_prepend(str(site))


@pytest.mark.parametrize("provider", ["leaky", "crashing"])
def test_a_key_quoted_by_a_failing_transport_is_redacted_even_with_debug(pql, ws_path, tmp_path, monkeypatch, provider):
    """The transport's error text carries the key (a connection error, or an unexpected exception): it
    reaches the saved reason, the error message and the --debug traceback only as ***."""
    _install_leaky_plugin(tmp_path / "site", monkeypatch)
    make_ws(ws_path, ["c001.com", "c002.com"])
    monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
    code, out, err = pql("--debug", "enrich", "--provider", provider, "--option", "max_retries=0",
                         "--option", "rate_limit=0", "--option", "give_up_after=1", "--option", "concurrency=1")
    assert code == ExitCode.PROVIDER, err
    assert "proxy refused the request with Bearer ***" in " ".join(err.split())  # the text is there, redacted
    assert "Traceback" in err and KEY not in out + err


def test_a_key_in_a_transport_error_is_redacted_in_the_saved_reason(pql, ws_path, tmp_path, monkeypatch):
    _install_leaky_plugin(tmp_path / "site", monkeypatch)
    make_ws(ws_path, ["c001.com", "c002.com"])
    monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
    code, out, err = pql("--debug", "enrich", "--provider", "leaky", "--option", "max_retries=0", "--option", "rate_limit=0")
    assert code == ExitCode.PROVIDER and "Every one of the 2 lookups" in " ".join(err.split())
    reasons = pl.read_parquet(ws_path / "firmographics.parquet").get_column("reason").to_list()
    assert len(reasons) == 2 and all("Bearer ***" in r and KEY not in r for r in reasons)
    assert KEY not in out + err


def test_a_key_echoed_by_the_server_is_redacted(pql, ws_path, monkeypatch):
    make_ws(ws_path, ["c001.com"])
    with StubServer([{"domain": "c001.com"}], api_key="another-key") as server:  # echoes what it got
        monkeypatch.setenv("PQL_CLEARBIT_URL", server.url)
        monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
        code, out, err = pql("--debug", "enrich", "--provider", "clearbit")
    assert code == ExitCode.PROVIDER and "Invalid API key: Bearer ***" in " ".join(err.split())
    assert KEY not in out + err


def test_option_values_are_echoed_in_validation_errors_but_keys_are_redacted(pql, ws_path, monkeypatch):
    make_ws(ws_path, ["c001.com"])
    code, _, err = pql("enrich", "--provider", "clearbit", "--option", "timeout=soon")
    assert code == ExitCode.USAGE and "timeout" in err and "'soon'" in err and "--option key=value" in err
    # the key, pasted into the wrong option: from the env var...
    monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
    code, _, err = pql("enrich", "--provider", "clearbit", "--option", f"timeout={KEY}")
    assert code == ExitCode.USAGE and "timeout" in err and "'***'" in err and KEY not in err
    monkeypatch.delenv("CLEARBIT_API_KEY")
    # ...and given as the api_key option in the same command (registered before validation)
    other = "opt-key-" + KEY[::-1]
    code, _, err = pql("enrich", "--provider", "clearbit", "--option", f"api_key={other}", "--option", f"concurrency={other}")
    assert code == ExitCode.USAGE and "concurrency" in err and "'***'" in err and other not in err
    # a misspelt secret option is never echoed (it is registered nowhere)
    code, _, err = pql("enrich", "--provider", "clearbit", "--option", "api_kee=sk_live_typo_secret")
    assert code == ExitCode.USAGE and "did you mean 'api_key'?" in err and "sk_live_typo_secret" not in err


def test_redact_env_var_and_registered_secrets(monkeypatch):
    from pqlcli.util import secrets

    monkeypatch.setenv("ACME_API_KEY", "env-secret-1234")
    monkeypatch.setenv("PQL_OWNER", "dana@example.com")  # not a secret's name: left alone
    secrets.register_secret("registered-secret-5678")
    secrets.register_secret("abc")  # too short to redact safely: ignored
    text = "env-secret-1234 / registered-secret-5678 / dana@example.com / abc"
    assert secrets.redact(text) == "*** / *** / dana@example.com / abc"


def test_missing_key_is_exit_3_with_the_fix(pql, ws_path):
    make_ws(ws_path, ["a.com"])
    code, _, err = pql("enrich", "--provider", "clearbit")
    assert code == ExitCode.PROVIDER and "CLEARBIT_API_KEY" in err


def test_file_provider(pql, ws_path, tmp_path):
    data = firmo_csv(tmp_path / "f.csv")
    ws = make_ws(ws_path, ["c003.com", "zzz.com"])
    code, _, err = pql("enrich", "--provider", "file", "--option", f"path={data}")
    assert code == 0, err
    table = ws.scan("firmographics").collect().sort("domain")
    assert table.get_column("status").to_list() == ["found", "not_found"]
    assert set(table.get_column("provider")) == {"file"}


def test_providers_lists_built_ins(pql):
    code, out, _ = pql("providers", workspace=False)
    assert code == 0
    for name in ("clearbit", "stub", "file", "CLEARBIT_API_KEY"):
        assert name in out


def test_broken_plugin_warns_and_others_still_work(pql, ws_path, tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "pql_broken_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pql-broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pqlcli.providers]\nbroken = pql_broken_mod:Provider\n")
    (site / "pql_broken_mod.py").write_text("raise ImportError('needs a library that is not installed')\n")
    monkeypatch.syspath_prepend(str(site))

    code, out, err = pql("providers", workspace=False)
    assert code == 0 and "pql-broken-plugin" in err and "stub" in out
    data = firmo_csv(tmp_path / "f.csv")
    make_ws(ws_path, ["c001.com"])
    code, _, err = pql("enrich", "--provider", "file", "--option", f"path={data}")
    assert code == 0 and "pql-broken-plugin" in err and "1 found" in err
    code, _, err = pql("enrich", "--provider", "broken")
    assert code == ExitCode.USAGE and "failed to load" in err


def test_parse_ttl():
    assert parse_ttl("30d") == 30 and parse_ttl("12h") == 0.5 and parse_ttl("2w") == 14 and parse_ttl("0") == 0


def test_total_outage_exits_3(pql, ws_path, monkeypatch):
    """A provider nobody answers for (connection refused): the errors are saved and the exit is 3."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    make_ws(ws_path, ["c001.com", "c002.com"])
    monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
    monkeypatch.setenv("PQL_CLEARBIT_URL", f"http://127.0.0.1:{port}")
    code, _, err = pql("enrich", "--provider", "clearbit", "--option", "max_retries=0", "--option", "rate_limit=0")
    assert code == ExitCode.PROVIDER and "Every one of the 2 lookups" in " ".join(err.split())
    assert KEY not in err
    saved = pl.read_parquet(ws_path / "firmographics.parquet")
    assert set(saved["status"]) == {"error"} and saved.height == 2
