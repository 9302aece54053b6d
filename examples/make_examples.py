"""Write the bundled example exports under examples/data/ (deterministic: same seed, same bytes).

A fictional product-led SaaS ("OurCo", a collaborative docs tool) with:

- hubspot-companies.csv   HubSpot Companies export (label headers), 12 companies, CRM owners ana/ben/chloe@ourco.com
- users.csv               the product database's users table (user_id, email, name, title, signup_at, plan,
                          account_id): ~300 users, ~30 on free-mail domains, ~15 "orphans" on company domains
                          that have no account row
- segment-tracks.jsonl    raw Segment track calls (userId, event, timestamp, messageId, context.groupId)
- mixpanel-export.jsonl   Mixpanel raw export (event, properties.time epoch s, distinct_id, $insert_id)
- amplitude-export.zip    Amplitude export: <project>/<project>_<date>_<hour>#0.json.gz gzipped JSONL
- firmographics.csv       for the stub provider; a few domains are left out so "not found" happens

Events span the 90 days before 2026-11-01 plus a few after it (which must not count as of 2026-11-01).
Run: python examples/make_examples.py [--out examples/data] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
START = AS_OF - timedelta(days=90)
OWNERS = ["ana@ourco.com", "ben@ourco.com", "chloe@ourco.com"]
EVENTS = ["project_created", "user_invited", "document_published", "viewed_pricing", "integration_connected", "login"]
OTHER_EVENTS = ["page_viewed", "comment_added", "export_downloaded"]

# name, domain, plan, employees, owner index (None = unowned), activity level, customer?
COMPANIES = [
    ("Northwind Traders", "northwind.io", "trial", 420, 0, "hot", False),
    ("Globex Corporation", "globex.com", "team", 1800, 1, "hot", True),
    ("Initech", "initech.com", "free", 150, None, "hot", False),
    ("Umbrella Health", "umbrellahealth.com", "enterprise", 4200, 0, "warm", True),
    ("Hooli", "hooli.xyz", "free", 65, 2, "warm", False),
    ("Pied Piper", "piedpiper.net", "trial", 22, None, "warm", False),
    ("Stark Logistics", "starklogistics.com", "team", 900, 1, "warm", False),
    ("Wayne Analytics", "wayneanalytics.io", "free", 12, 2, "cold", False),
    ("Tyrell Robotics", "tyrellrobotics.com", "free", 310, None, "cold", False),
    ("Soylent Foods", "soylentfoods.co", "trial", 75, 0, "cold", False),
    ("Vandelay Industries", "vandelay.com", "free", 8, 1, "dormant", False),
    ("Cyberdyne Systems", "cyberdyne.ai", "team", 2600, 2, "dormant", False),
]
ORPHAN_DOMAINS = ["brightloop.io", "quantumleaf.com", "mossbank.co", "redkite.dev", "lumenfield.de"]
FREE_DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "proton.me"]
FIRST = ["Alice", "Bruno", "Carmen", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor", "Wen", "Yusuf", "Zoe"]
LAST = ["Adams", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen", "Kim",
        "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Weber"]
BUYER_TITLES = ["VP Engineering", "CTO", "Head of Product", "Director of Operations", "VP Marketing"]
OTHER_TITLES = ["Software Engineer", "Product Manager", "Designer", "Data Analyst", "Marketing Manager",
                "Customer Success Manager", "Founder", "Consultant", "Student", ""]
FIRMO = {  # domain -> employees_range, raised, annual_revenue, country, industry
    "northwind.io": (25_000_000, 48_000_000, "US", "Logistics"),
    "globex.com": (80_000_000, 310_000_000, "US", "Manufacturing"),
    "initech.com": (12_500_000, 21_000_000, "CA", "Software"),
    "umbrellahealth.com": (0, 900_000_000, "GB", "Healthcare"),
    "hooli.xyz": (4_000_000, 6_500_000, "US", "Internet"),
    "piedpiper.net": (1_500_000, 900_000, "US", "Software"),
    "starklogistics.com": (30_000_000, 150_000_000, "DE", "Logistics"),
    "wayneanalytics.io": (0, 1_200_000, "FR", "Analytics"),
    "tyrellrobotics.com": (55_000_000, 60_000_000, "IN", "Robotics"),
    # soylentfoods.co is left out: the provider answers "not found"
    "vandelay.com": (0, 2_000_000, "US", "Import/Export"),
    "cyberdyne.ai": (70_000_000, 420_000_000, "US", "Artificial Intelligence"),
    "brightloop.io": (8_000_000, 5_000_000, "GB", "Marketing Tech"),
    "quantumleaf.com": (18_000_000, 14_000_000, "CA", "Clean Energy"),
    "mossbank.co": (0, 3_000_000, "GB", "Financial Services"),
    # redkite.dev is left out
    "lumenfield.de": (2_000_000, 9_000_000, "DE", "Software"),
}
ORPHAN_EMPLOYEES = {"brightloop.io": 140, "quantumleaf.com": 260, "mossbank.co": 35, "redkite.dev": 6,
                    "lumenfield.de": 48}


def employees_range(n: int) -> str:
    for lo, hi in ((1, 10), (11, 50), (51, 250), (251, 1000), (1001, 5000)):
        if n <= hi:
            return f"{lo}-{hi}"
    return "5000+"


def iso_z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def make(out: Path, seed: int) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)

    # ---- companies (HubSpot export) -------------------------------------------------------------
    companies = []
    for i, (name, domain, plan, employees, owner_ix, level, customer) in enumerate(COMPANIES):
        record_id = str(9_120_000_000 + 1000 * i + rng.randrange(1000))
        created = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(days=rng.randrange(500), minutes=rng.randrange(1440))
        became = created + timedelta(days=rng.randrange(30, 200)) if customer else None
        companies.append(dict(record_id=record_id, name=name, domain=domain, plan=plan, employees=employees,
                              owner=OWNERS[owner_ix] if owner_ix is not None else "", level=level,
                              created=created, became=became))
    with open(out / "hubspot-companies.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Record ID", "Company name", "Company Domain Name", "Company owner", "Create Date",
                    "Number of Employees", "Lifecycle Stage", "Plan", "Became a Customer Date", "Industry"])
        for c in companies:
            w.writerow([c["record_id"], c["name"], c["domain"], c["owner"], c["created"].strftime("%Y-%m-%d %H:%M"),
                        c["employees"], "Customer" if c["became"] else "Opportunity" if c["plan"] == "trial" else "Lead",
                        c["plan"], c["became"].strftime("%Y-%m-%d %H:%M") if c["became"] else "",
                        FIRMO.get(c["domain"], (0, 0, "", ""))[3]])

    # ---- users ----------------------------------------------------------------------------------
    users: list[dict] = []
    seen_ids: set[str] = set()

    def new_user(email_domain: str, account: dict | None, level: str, signup: datetime) -> None:
        uid = f"usr_{rng.getrandbits(32):08x}"
        while uid in seen_ids:
            uid = f"usr_{rng.getrandbits(32):08x}"
        seen_ids.add(uid)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}" if email_domain not in FREE_DOMAINS else f"{first}{last}{rng.randrange(10, 99)}"
        title = rng.choice(BUYER_TITLES) if rng.random() < 0.15 else rng.choice(OTHER_TITLES)
        plan = account["plan"] if account else rng.choice(["free", "free", "free", "trial"])
        # mixed case and stray spaces are normal in real exports; ingest normalises them
        email = f"{local}@{email_domain}"
        if rng.random() < 0.1:
            email = " " + email.title() + " "
        users.append(dict(user_id=uid, email=email, name=f"{first} {last}", title=title,
                          signup_at=signup, plan=plan, account_id=account["record_id"] if account else "",
                          level=level, account=account))

    sizes = {"hot": 30, "warm": 22, "cold": 16, "dormant": 10}
    for c in companies:
        n = sizes[c["level"]]
        for k in range(n):
            if c["level"] == "hot" and k < 7:  # a burst of new seats in the last week
                signup = AS_OF - timedelta(days=rng.uniform(0.2, 6.8))
            else:
                signup = c["created"] + timedelta(days=rng.uniform(0, max(1, (AS_OF - c["created"]).days - 10)))
            lvl = c["level"] if rng.random() < 0.8 else rng.choice(["cold", "dormant", "none"])
            new_user(c["domain"], c if rng.random() < 0.93 else None, lvl, signup)
    for d in ORPHAN_DOMAINS:
        for _ in range(3):
            new_user(d, None, rng.choice(["warm", "cold", "hot"]), START + timedelta(days=rng.uniform(0, 80)))
    for _ in range(30):
        new_user(rng.choice(FREE_DOMAINS), None, rng.choice(["cold", "dormant", "warm", "none"]),
                 START - timedelta(days=rng.uniform(0, 200)))
    with open(out / "users.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "email", "name", "title", "signup_at", "plan", "account_id"])
        for u in users:
            w.writerow([u["user_id"], u["email"], u["name"], u["title"],
                        u["signup_at"].strftime("%Y-%m-%dT%H:%M:%SZ"), u["plan"], u["account_id"]])

    # ---- events ---------------------------------------------------------------------------------
    per_day = {"hot": 0.8, "warm": 0.25, "cold": 0.1, "dormant": 0.08, "none": 0.0}
    weights = {"project_created": 3, "user_invited": 2, "document_published": 4, "viewed_pricing": 1,
               "integration_connected": 0.3, "login": 10, "page_viewed": 6, "comment_added": 3,
               "export_downloaded": 1}
    names, w8 = list(weights), list(weights.values())
    events = []
    for u in users:
        rate = per_day[u["level"]]
        if rate == 0:
            continue
        first_day = max(START, u["signup_at"])
        if u["level"] == "dormant":  # active only long ago
            last_day = min(AS_OF - timedelta(days=45), START + timedelta(days=40))
        else:
            last_day = AS_OF + timedelta(days=3)  # a few events after as_of: must not count
        span = (last_day - first_day).total_seconds()
        if span <= 0:
            continue
        n = max(1, int(rate * span / 86400 * rng.uniform(0.6, 1.4)))
        for _ in range(n):
            # hot users: activity skewed towards the last weeks
            frac = rng.random() ** (0.4 if u["level"] == "hot" else 1.0)
            ts = first_day + timedelta(seconds=span * frac)
            ev = rng.choices(names, w8)[0]
            if u["level"] == "hot" and ts > AS_OF - timedelta(days=14) and rng.random() < 0.15:
                ev = rng.choice(["viewed_pricing", "user_invited", "project_created"])
            events.append((ts.replace(microsecond=rng.randrange(1_000_000)), u, ev))
    events.sort(key=lambda e: (e[0], e[1]["user_id"]))

    seg = io.StringIO()
    mix = io.StringIO()
    amp: dict[str, list[str]] = {}
    for ts, u, ev in events:
        props: dict = {}
        if ev == "document_published":
            props = {"word_count": rng.randrange(80, 4000), "template": rng.choice(["blank", "spec", "notes"])}
        elif ev == "user_invited":
            props = {"invitees": rng.randrange(1, 6)}
        elif ev == "integration_connected":
            props = {"integration": rng.choice(["slack", "github", "jira", "salesforce"])}
        elif ev == "page_viewed":
            props = {"path": rng.choice(["/home", "/docs", "/settings", "/pricing"])}
        r = rng.random()
        if r < 0.45:  # Segment raw track call
            ctx: dict = {"library": {"name": "analytics.js", "version": "4.1.0"}, "ip": "0.0.0.0"}
            if u["account_id"] and rng.random() < 0.7:
                ctx["groupId"] = u["account_id"]
            rec = {"type": "track", "event": ev, "userId": u["user_id"],
                   "anonymousId": f"anon-{rng.getrandbits(48):012x}", "messageId": f"ajs-next-{rng.getrandbits(64):016x}",
                   "timestamp": iso_z(ts), "sentAt": iso_z(ts + timedelta(milliseconds=rng.randrange(5, 900))),
                   "properties": props, "context": ctx}
            seg.write(json.dumps(rec, separators=(",", ":")) + "\n")
        elif r < 0.8:  # Mixpanel export
            p = {"time": int(ts.timestamp()), "distinct_id": u["user_id"],
                 "$insert_id": f"{rng.getrandbits(64):016x}", "$os": rng.choice(["Mac OS X", "Windows", "Linux"]),
                 "mp_lib": "web", **props}
            mix.write(json.dumps({"event": ev, "properties": p}, separators=(",", ":")) + "\n")
        else:  # Amplitude export
            rec = {"event_type": ev, "user_id": u["user_id"], "device_id": f"{rng.getrandbits(64):016x}",
                   "event_time": ts.strftime("%Y-%m-%d %H:%M:%S.%f"), "$insert_id": f"{rng.getrandbits(128):032x}",
                   "uuid": f"{rng.getrandbits(128):032x}", "amplitude_id": 500_000_000 + rng.randrange(10**6),
                   "event_properties": props, "user_properties": {"plan": u["plan"]},
                   "platform": "Web", "country": "United States"}
            key = ts.strftime("%Y-%m-%d") + "_0"  # Amplitude writes one file per hour; one per day keeps the zip small
            amp.setdefault(key, []).append(json.dumps(rec, separators=(",", ":")))
    (out / "segment-tracks.jsonl").write_text(seg.getvalue(), encoding="utf-8")
    (out / "mixpanel-export.jsonl").write_text(mix.getvalue(), encoding="utf-8")
    project = "412345"
    with zipfile.ZipFile(out / "amplitude-export.zip", "w", zipfile.ZIP_STORED) as zf:
        for key in sorted(amp):
            data = gzip.compress(("\n".join(amp[key]) + "\n").encode(), mtime=0)
            info = zipfile.ZipInfo(f"{project}/{project}_{key}#0.json.gz", date_time=(2026, 11, 4, 0, 0, 0))
            zf.writestr(info, data)

    # ---- firmographics (stub provider data) -----------------------------------------------------
    with open(out / "firmographics.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["domain", "name", "employees", "employees_range", "raised", "annual_revenue", "country", "industry"])
        emp = {c["domain"]: c["employees"] for c in companies} | ORPHAN_EMPLOYEES
        names_by_domain = {c["domain"]: c["name"] for c in companies}
        for domain, (raised, revenue, country, industry) in FIRMO.items():
            name = names_by_domain.get(domain) or domain.split(".")[0].title()
            w.writerow([domain, name, emp[domain], employees_range(emp[domain]), raised, revenue, country, industry])

    print(f"wrote {len(companies)} companies, {len(users)} users, {len(events)} events to {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    make(args.out, args.seed)


if __name__ == "__main__":
    main()
