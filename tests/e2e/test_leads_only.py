"""A CRM lead export scored alone: no events, no accounts (issue 13, "your data as it comes")."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

CONFIG = """\
version: 1
fit:
  - {name: form_lead,    when: "lead_origin = 'Landing Page Submission'", points: 40}
  - {name: professional, when: "what_is_your_current_occupation = 'Working Professional'", points: 40}
  - {name: no_email,     when: "do_not_email = 'Yes'", points: -30}
usage:
  - {name: time_on_site, when: "total_time_spent_on_website > 600", points: 50}
  - {name: visits,       when: "totalvisits >= 5", points: 30}
  - {name: pages,        when: "page_views_per_visit >= 3", points: 20}
tiers: {fit: 40, usage: 50}
pqls:
  - {name: hot_lead, level: user, when: "tier = 'tier1'"}
"""


def _lead_export(path: Path, n: int = 400) -> None:
    """The shape of a public CRM lead export: prospect id, origin, web activity, a 0/1 converted column."""
    rng = random.Random(13)
    header = ["Prospect ID", "Lead Number", "Lead Origin", "Lead Source", "Do Not Email", "Converted",
              "TotalVisits", "Total Time Spent on Website", "Page Views Per Visit", "Last Activity",
              "What is your current occupation"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        for i in range(n):
            out.writerow([
                f"7927b2df-8bba-4d29-b9a2-{i:012x}", 660000 + i,
                rng.choice(["API", "Landing Page Submission", "Lead Add Form"]),
                rng.choice(["Google", "Direct Traffic", "Olark Chat", "Organic Search"]),
                rng.choice(["No", "No", "No", "Yes"]), rng.choice([0, 1]),
                rng.choice(["", *map(str, range(0, 12))]), rng.randint(0, 1800), round(rng.uniform(0, 6), 2),
                rng.choice(["Email Opened", "SMS Sent", "Page Visited on Website"]),
                rng.choice(["Unemployed", "Working Professional", "Student", ""]),
            ])


@pytest.fixture
def leads(pql, tmp_path: Path) -> Path:
    export = tmp_path / "Leads.csv"
    _lead_export(export)
    config = tmp_path / "pql.yaml"
    config.write_text(CONFIG, "utf-8")
    code, _, err = pql("ingest", "users", str(export))  # "Prospect ID" is recognised as the user id
    assert code == 0, err
    return config


def test_init_from_a_folder_with_a_lead_export_recognises_its_users(pql, tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    _lead_export(exports / "Leads.csv", n=50)
    code, out, err = pql("init", "--from", str(exports), "--dry-run", workspace=False)
    assert code == 0, err
    assert "pql ingest users" in out and "Leads.csv" in out


def test_a_leads_only_workspace_scores_users_alone_with_notes(pql, leads: Path):
    code, out, err = pql("score", "--config", str(leads))
    assert code == 0, err
    assert "No accounts table: users are scored alone" in err
    assert "No events yet" in err
    assert "Usage rule 'time_on_site' reads user-only column(s) total_time_spent_on_website" in err
    assert "unknown column" not in err

    code, out, err = pql("list", "users", "--format", "json", "--limit", "1000")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 400
    assert {r["tier"] for r in rows} == {"tier1", "tier2", "tier3", "tier4"}
    top = rows[0]
    assert top["tier"] == "tier1" and top["usage_score"] >= 50 and top["fit_score"] >= 40

    code, out, err = pql("explain", top["user_id"])
    assert code == 0, err
    assert "time_on_site" in out or "visits" in out

    code, out, err = pql("tiers", "report", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    users = report["levels"]["users"]
    assert users["total"] == 400
    assert sum(users["tiers"][t]["count"] for t in users["tiers"]) == 400
