"""Build score snapshots by hand, per docs/snapshot.md, for the `pql list` / `pql tiers report` tests."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
OWNERS = ["ana@example.com", "Bo Chen", None, "=cmd|' /C calc'!A0"]
PLANS = ["free", "trial", "team", "enterprise"]
COUNTRIES = ["US", "GB", "DE", None]
INDUSTRIES = ["Software", "Retail", None]
FIT_RULES = {"big_company": 30, "funded": 30, "icp_country": 20, "personal_email": -20, "buyer_title": 20}
USAGE_RULES = ["projects", "invites", "docs", "pricing", "integrated", "dormant"]
TIER_NAMES = {f"tier{i}": f"tier{i}" for i in range(1, 5)}
LABELS = {
    "tier1": "Tier 1 · call now",
    "tier2": "Tier 2 · drive adoption",
    "tier3": "Tier 3 · self-serve",
    "tier4": "Tier 4 · nurture",
}


def _scored(frame: pl.DataFrame) -> pl.DataFrame:
    """Scores from the point columns (summed, clamped), then tier and tier label."""
    frame = frame.with_columns(
        fit_score=pl.sum_horizontal(pl.col("^fit__.*$")).clip(0, 100),
        usage_score=pl.sum_horizontal(pl.col("^usage__.*$")).clip(0, 100),
    )
    frame = frame.with_columns(tier=_tier(pl.col("fit_score"), pl.col("usage_score")))
    return frame.with_columns(tier_label=pl.col("tier").replace_strict(LABELS))


def _tier(fit: pl.Expr, usage: pl.Expr) -> pl.Expr:
    return (
        pl.when((fit >= 50) & (usage >= 40))
        .then(pl.lit("tier1"))
        .when(fit >= 50)
        .then(pl.lit("tier2"))
        .when(usage >= 40)
        .then(pl.lit("tier3"))
        .otherwise(pl.lit("tier4"))
    )


def build_frames(seed: int = 1, n_accounts: int = 10, n_users: int = 40) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = random.Random(seed)
    accounts = []
    for i in range(n_accounts):
        accounts.append(
            {
                "account_id": f"a{i}",
                "name": f"Company {i}",
                "domain": f"company{i}.com",
                "plan": PLANS[i % 4],
                "owner": OWNERS[i % 4],
                "created_at": AS_OF - timedelta(days=10 + 20 * i),
                "converted_at": AS_OF - timedelta(days=2) if i % 3 == 0 else None,
                "employees": 50 * (i + 1),
                "raised": float(5_000_000 * i),
                "country": COUNTRIES[i % 4],
                "industry": INDUSTRIES[i % 3],
            }
        )
    users = []
    for j in range(n_users):
        acc = accounts[j % n_accounts]
        fit_pts = {r: (p if rng.random() < 0.45 else 0.0) for r, p in FIT_RULES.items()}
        usage_pts = {
            "projects": float(5 * rng.randint(0, 5)),
            "invites": float(min(30, 10 * rng.randint(0, 4))),
            "docs": float(2 * rng.randint(0, 10)),
            "pricing": 15.0 if rng.random() < 0.4 else 0.0,
            "integrated": 10.0 if rng.random() < 0.3 else 0.0,
            "dormant": -10.0 if rng.random() < 0.3 else 0.0,
        }
        row = {
            "user_id": f"u{j:03d}",
            "email": f"user{j}@{acc['domain']}" if j % 7 else f"-user{j}@gmail.com",
            "name": f"User {j}",
            "title": "VP Sales" if j % 5 == 0 else "Engineer",
            "account_id": acc["account_id"],
            "account_name": acc["name"],
            "domain": acc["domain"],
            "email_domain": acc["domain"],
            "is_free_email": j % 7 == 0,
            "plan": acc["plan"],
            "owner": acc["owner"],
            "signup_at": AS_OF - timedelta(days=3 * j + 1),
            "converted_at": acc["converted_at"] if j % 2 == 0 else None,
            "employees": acc["employees"],
            "raised": acc["raised"],
            "annual_revenue": None,
            "country": acc["country"],
            "industry": acc["industry"],
            "projects_30d": int(usage_pts["projects"] // 5),
            "invites_7d": int(usage_pts["invites"] // 10),
            "logins_7d": 0 if usage_pts["dormant"] else 3,
        }
        row.update({f"fit__{r}": float(p) for r, p in fit_pts.items()})
        row.update({f"usage__{r}": p for r, p in usage_pts.items()})
        users.append(row)
    u = pl.DataFrame(users, infer_schema_length=None)
    u = _scored(u)
    u = u.with_columns(
        pql__free_to_paid=(pl.col("tier") == "tier1") & pl.col("plan").is_in(["free", "trial"]),
    ).with_columns(is_pql=pl.col("pql__free_to_paid"))

    a = pl.DataFrame(accounts, infer_schema_length=None)
    roll = u.group_by("account_id").agg(
        pl.col("projects_30d").sum(),
        pl.col("invites_7d").sum(),
        pl.col("logins_7d").sum(),
        pl.len().cast(pl.Int64).alias("users"),
        pl.col("is_pql").sum().cast(pl.Int64).alias("pql_users"),
        (pl.col("signup_at") >= AS_OF - timedelta(days=7)).sum().cast(pl.Int64).alias("users_added_7d"),
    )
    a = a.join(roll, on="account_id", how="left", maintain_order="left")
    a = a.with_columns(
        fit__big_company=pl.when(pl.col("employees") > 100).then(30.0).otherwise(0.0),
        fit__funded=pl.when(pl.col("raised") > 10_000_000).then(30.0).otherwise(0.0),
        fit__icp_country=pl.when(pl.col("country").is_in(["US", "GB"])).then(20.0).otherwise(0.0),
        usage__projects=(pl.col("projects_30d") * 1.5).clip(0, 25),
        usage__invites=(pl.col("invites_7d") * 3.0).clip(0, 30),
        usage__dormant=pl.when(pl.col("logins_7d") < 10).then(-10.0).otherwise(0.0),
    )
    a = _scored(a)
    a = a.with_columns(
        pql_share=pl.col("pql_users") / pl.col("users"),
        pql__seat_expansion=(pl.col("users_added_7d") > 5) & (pl.col("projects_30d") > 3),
    ).with_columns(pqa=pl.col("pql_share").fill_null(0) >= 0.5)
    return u, a


def write_snapshot(
    ws: Path, stamp: str, users: pl.DataFrame, accounts: pl.DataFrame, as_of: datetime = AS_OF
) -> Path:
    folder = ws / "scores" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    users.write_parquet(folder / "users.parquet")
    accounts.write_parquet(folder / "accounts.parquet")
    manifest = {
        "as_of": as_of.isoformat(),
        "created_at": as_of.isoformat(),
        "pql_version": "test",
        "config_hash": "sha256:test",
        "metrics": ["projects_30d", "invites_7d", "logins_7d"],
        "fit_rules": list(FIT_RULES),
        "usage_rules": USAGE_RULES,
        "tiers": {"fit": 50, "usage": 40, "names": TIER_NAMES, "labels": LABELS},
        "pqls": [
            {"name": "free_to_paid", "level": "user", "when": "tier = 'tier1' AND plan IN ('free', 'trial')"},
            {"name": "seat_expansion", "level": "account", "when": "users_added_7d > 5 AND projects_30d > 3"},
        ],
        "pqa_share": 0.5,
        "counts": {"users": users.height, "accounts": accounts.height},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def make_two_snapshots(ws: Path) -> tuple[Path, Path]:
    """An older snapshot (seed 2) and the latest one (seed 1), so tiers move between them."""
    old_u, old_a = build_frames(seed=2)
    old_u = old_u.filter(pl.col("user_id") != "u039")  # u039 is new in the latest snapshot
    first = write_snapshot(ws, "20261025T000000000000Z", old_u, old_a, AS_OF - timedelta(days=7))
    u, a = build_frames(seed=1)
    second = write_snapshot(ws, "20261101T000000000000Z", u, a)
    return first, second
