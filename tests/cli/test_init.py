"""`pql init`: a starter config that validates, never overwriting, and `--from` your exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from pqlcli.config import loads
from tests import paths

ROOT = paths.ROOT
EXAMPLES = ROOT / "examples" / "data"


def test_init_writes_a_starter_config_that_validates_and_never_overwrites(pql, tmp_path: Path):
    code, out, err = pql("init", "proj", workspace=False)
    assert code == 0, err
    config = tmp_path / "proj" / "pql.yaml"
    text = config.read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=pql.schema.json")
    loads(text, config)  # validates
    schema = json.loads((tmp_path / "proj" / "pql.schema.json").read_text("utf-8"))
    assert "metrics" in schema["properties"]
    assert (tmp_path / "proj" / ".pql").is_dir()
    assert "Next:" in out and "pql ingest users" in out and "pql score" in out

    config.write_text(text + "# my edit\n", "utf-8")
    code, out, err = pql("init", "proj", workspace=False)
    assert code == 2 and "already exists" in err and "--force" in err
    assert config.read_text("utf-8").endswith("# my edit\n")  # untouched

    code, out, err = pql("init", "proj", "--force", workspace=False)
    assert code == 0, err
    assert (tmp_path / "proj" / "pql.yaml.bak").read_text("utf-8").endswith("# my edit\n")
    assert not config.read_text("utf-8").endswith("# my edit\n")


def _tiers(pql) -> dict[str, int]:
    code, out, err = pql("tiers", "report", "--format", "json", workspace=False)
    assert code == 0, err
    users = json.loads(out)["levels"]["users"]
    return {t: v["count"] for t, v in users["tiers"].items()}


def test_init_from_the_examples_guesses_a_config_whose_first_score_fills_every_tier(pql, tmp_path: Path, monkeypatch):
    exports = tmp_path / "exports"
    shutil.copytree(EXAMPLES, exports)
    code, out, err = pql("init", "--from", str(exports), "--dry-run", workspace=False)
    assert code == 0, err
    assert "pql ingest accounts" in out and "--format hubspot" in out and "--format mixpanel" in out
    assert not (tmp_path / "pql.yaml").exists() and not (tmp_path / ".pql").exists()  # dry run: nothing written

    code, out, err = pql("init", "--from", str(exports), workspace=False)
    assert code == 0, err
    assert "What pql guessed" in out and "most frequent events" in out
    config = yaml.safe_load((tmp_path / "pql.yaml").read_text("utf-8"))
    events = {m["event"] for m in config["metrics"].values()}
    present = set(__import__("polars").read_parquet(tmp_path / ".pql" / "events" / "*.parquet")["event"].unique())
    assert events - {"*"} <= present and len(events) >= 4
    assert {r["name"] for r in config["fit"]} >= {"company_size", "buyer_title"}

    code, out, err = pql("config", "validate", workspace=False)  # ./pql.yaml found by the lookup order
    assert code == 0, err
    code, out, err = pql("score", workspace=False)
    assert code == 0, err
    counts = _tiers(pql)
    assert set(counts) == {"tier1", "tier2", "tier3", "tier4"} and all(counts.values()), counts
    assert max(counts.values()) < 0.6 * sum(counts.values())  # a spread, not one tier


def test_init_from_a_folder_without_exports_is_a_usage_error(pql, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello\n", "utf-8")
    code, _, err = pql("init", "--from", str(tmp_path / "empty"), workspace=False)
    assert code == 2 and "No users or events export" in err
    assert not (tmp_path / "pql.yaml").exists()
