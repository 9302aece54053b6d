"""Write the bundled example exports under examples/data/ (deterministic: same seed, same bytes).

A fictional product-led SaaS ("OurCo", a collaborative docs tool) with:

- hubspot-companies.csv   HubSpot Companies export (label headers): 12 named companies plus ~90 smaller ones,
                          CRM owners ana/ben/chloe@ourco.com; "Became a Customer Date" is the conversion
- users.csv               the product database's users table (user_id, email, name, title, signup_at, plan,
                          account_id): ~30 users on free-mail domains, ~15 "orphans" on company domains
                          that have no account row
- segment-tracks.jsonl    raw Segment track calls (userId, event, timestamp, messageId, context.groupId)
- mixpanel-export.jsonl   Mixpanel raw export (event, properties.time epoch s, distinct_id, $insert_id)
- amplitude-export.zip    Amplitude export: <project>/<project>_<date>_<hour>#0.json.gz gzipped JSONL
- firmographics.csv       for the stub provider; a few domains are left out so "not found" happens

The story is the one real PLG funnels tell: a company converts (becomes a customer) with a probability that
grows with its fit (size, funding, country) and its users' engagement, with noise; in the three weeks before
it buys, its users look at pricing, invite colleagues and create projects. So a backtest (`pql backtest`)
finds Tier 1 converting at several times the base rate. "Plan" is the self-serve plan the company signed up
on (a CRM property set at sign-up); buying is recorded by "Became a Customer Date" and "Lifecycle Stage".

Events span the 120 days before 2026-11-01 plus a few after it (which must not count as of 2026-11-01).
Run: python examples/make_examples.py [--out examples/data] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import random
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 120
START = AS_OF - timedelta(days=HISTORY_DAYS)
OWNERS = ["ana@ourco.com", "ben@ourco.com", "chloe@ourco.com"]
ICP_COUNTRIES = ("US", "CA", "GB")

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
GENERATED_COMPANIES = 200
NAME_A = ["Acme", "Blue", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper", "Kestrel",
          "Lark", "Maple", "Nova", "Onyx", "Pine", "Quartz", "Raven", "Sable", "Tidal", "Umber", "Vertex", "Willow",
          "Zenith"]
NAME_B = ["Labs", "Systems", "Analytics", "Cloud", "Works", "Health", "Logistics", "Media", "Robotics", "Finance",
          "Energy", "Studio"]
INDUSTRY_OF = {"Labs": "Software", "Systems": "Software", "Analytics": "Analytics", "Cloud": "Internet",
               "Works": "Manufacturing", "Health": "Healthcare", "Logistics": "Logistics", "Media": "Media",
               "Robotics": "Robotics", "Finance": "Financial Services", "Energy": "Clean Energy", "Studio": "Design"}
TLDS = [".com", ".io", ".co", ".ai", ".dev"]
COUNTRIES = ["US", "US", "US", "CA", "GB", "GB", "DE", "FR", "IN", "BR", "AU", "NL"]
ORPHAN_DOMAINS = ["brightloop.io", "quantumleaf.com", "mossbank.co", "redkite.dev", "lumenfield.de"]
FREE_DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "proton.me"]
FIRST = ["Alice", "Bruno", "Carmen", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor", "Wen", "Yusuf", "Zoe"]
LAST = ["Adams", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen", "Kim",
        "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Weber"]
BUYER_TITLES = ["VP Engineering", "CTO", "Head of Product", "Director of Operations", "VP Marketing"]
OTHER_TITLES = ["Software Engineer", "Product Manager", "Designer", "Data Analyst", "Marketing Manager",
                "Customer Success Manager", "Founder", "Consultant", "Student", ""]
FIRMO = {  # domain -> raised, annual_revenue, country, industry
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

# Engagement: events per active day, the mix of events, and the chance of buying it brings (times fit).
PER_DAY = {"hot": 1.3, "warm": 0.3, "cold": 0.1, "dormant": 0.08, "none": 0.0}
BUYING_CHANCE = {"hot": 0.95, "warm": 0.5, "cold": 0.12, "dormant": 0.03}
BASE_MIX = {"project_created": 3, "user_invited": 2, "document_published": 4, "viewed_pricing": 1,
            "integration_connected": 0.3, "login": 10, "page_viewed": 6, "comment_added": 3, "export_downloaded": 1}
HOT_MIX = BASE_MIX | {"project_created": 6, "user_invited": 3, "document_published": 5, "viewed_pricing": 1.5,
                      "integration_connected": 0.6}
INTENT_EVENTS = ["viewed_pricing", "user_invited", "project_created", "integration_connected"]


def employees_range(n: int) -> str:
    for lo, hi in ((1, 10), (11, 50), (51, 250), (251, 1000), (1001, 5000)):
        if n <= hi:
            return f"{lo}-{hi}"
    return "5000+"


def iso_z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def fit_points(employees: int, domain: str) -> int:
    """The account fit the default config gives (big_company + funded + icp_country), 0..80."""
    raised, _, country, _ = FIRMO.get(domain, (0, 0, "", ""))
    return 30 * (employees > 100) + 30 * (raised > 10_000_000) + 20 * (country in ICP_COUNTRIES)


def generated_companies(rng: random.Random) -> list[tuple]:
    """Smaller companies with random firmographics; their firmographics are added to FIRMO."""
    out: list[tuple] = []
    names: set[str] = {c[0] for c in COMPANIES}
    while len(out) < GENERATED_COMPANIES:
        a, b = rng.choice(NAME_A), rng.choice(NAME_B)
        name = f"{a} {b}"
        if name in names:
            continue
        names.add(name)
        domain = f"{a}{b}".lower() + rng.choice(TLDS)
        employees = int(math.exp(rng.uniform(math.log(3), math.log(3000))))
        raised = 0 if rng.random() < 0.25 else int(math.exp(rng.uniform(math.log(500_000), math.log(200_000_000))))
        revenue = int(employees * rng.uniform(60_000, 250_000))
        if rng.random() > 0.08:  # the rest: the provider does not know them
            FIRMO[domain] = (raised // 100_000 * 100_000, revenue // 100_000 * 100_000, rng.choice(COUNTRIES), INDUSTRY_OF[b])
        plan = rng.choices(["free", "trial", "team", "enterprise"], [45, 25, 20, 10])[0]
        owner = rng.choice([0, 1, 2, None])
        level = rng.choices(["hot", "warm", "cold", "dormant"], [20, 30, 30, 20])[0]
        out.append((name, domain, plan, employees, owner, level, None))
    return out


def conversion_date(rng: random.Random, created: datetime, employees: int, domain: str, level: str) -> datetime | None:
    """Buys with a chance that needs both fit and engagement (with noise), on a day within the history."""
    fit = (fit_points(employees, domain) + 10) / 90
    chance = min(0.95, fit**2 * BUYING_CHANCE[level] * math.exp(rng.gauss(0, 0.4)))
    if rng.random() >= chance:
        return None
    lo = max(created + timedelta(days=21), START + timedelta(days=21))
    hi = AS_OF + timedelta(days=2)
    if lo >= hi:
        return None
    return lo + (hi - lo) * rng.random()


def make_companies(rng: random.Random) -> list[dict]:
    companies = []
    for i, (name, domain, plan, employees, owner_ix, level, customer) in enumerate(
        COMPANIES + generated_companies(rng)
    ):
        record_id = str(9_120_000_000 + 1000 * i + rng.randrange(1000))
        created = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(days=rng.randrange(640), minutes=rng.randrange(1440))
        if customer is None:  # a generated company: the funnel decides
            became = conversion_date(rng, created, employees, domain, level)
        else:  # a named company keeps its story (Globex and Umbrella bought long ago)
            created = min(created, datetime(2026, 5, 20, tzinfo=UTC))
            became = created + timedelta(days=rng.randrange(30, 200)) if customer else None
        companies.append(dict(record_id=record_id, name=name, domain=domain, plan=plan, employees=employees,
                              owner=OWNERS[owner_ix] if owner_ix is not None else "", level=level,
                              created=created, became=became, named=i < len(COMPANIES)))
    return companies


def write_companies(out: Path, companies: list[dict]) -> None:
    with open(out / "hubspot-companies.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Record ID", "Company name", "Company Domain Name", "Company owner", "Create Date",
                    "Number of Employees", "Lifecycle Stage", "Plan", "Became a Customer Date", "Industry"])
        for c in companies:
            stage = "Customer" if c["became"] else "Opportunity" if c["plan"] == "trial" else "Lead"
            w.writerow([c["record_id"], c["name"], c["domain"], c["owner"], c["created"].strftime("%Y-%m-%d %H:%M"),
                        c["employees"], stage, c["plan"], c["became"].strftime("%Y-%m-%d %H:%M") if c["became"] else "",
                        FIRMO.get(c["domain"], (0, 0, "", ""))[3]])


class UserMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.users: list[dict] = []
        self.seen: set[str] = set()

    def add(self, email_domain: str, account: dict | None, level: str, signup: datetime) -> None:
        rng = self.rng
        uid = f"usr_{rng.getrandbits(32):08x}"
        while uid in self.seen:
            uid = f"usr_{rng.getrandbits(32):08x}"
        self.seen.add(uid)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}" if email_domain not in FREE_DOMAINS else f"{first}{last}{rng.randrange(10, 99)}"
        title = rng.choice(BUYER_TITLES) if rng.random() < 0.15 else rng.choice(OTHER_TITLES)
        plan = account["plan"] if account else rng.choice(["free", "free", "free", "trial"])
        # mixed case and stray spaces are normal in real exports; ingest normalises them
        email = f"{local}@{email_domain}"
        if rng.random() < 0.1:
            email = " " + email.title() + " "
        self.users.append(dict(user_id=uid, email=email, name=f"{first} {last}", title=title,
                               signup_at=signup, plan=plan, account_id=account["record_id"] if account else "",
                               level=level, account=account))


def make_users(rng: random.Random, companies: list[dict]) -> list[dict]:
    maker = UserMaker(rng)
    named_sizes = {"hot": 20, "warm": 14, "cold": 10, "dormant": 8}
    sizes = {"hot": (3, 7), "warm": (2, 5), "cold": (1, 3), "dormant": (1, 2)}
    for c in companies:
        n = named_sizes[c["level"]] if c["named"] else rng.randint(*sizes[c["level"]])
        for k in range(n):
            if c["named"] and c["level"] == "hot" and k < 7:  # a burst of new seats in the last week
                signup = AS_OF - timedelta(days=rng.uniform(0.2, 6.8))
            else:
                signup = c["created"] + timedelta(days=rng.uniform(0, max(1, (AS_OF - c["created"]).days - 10)))
            lvl = c["level"] if rng.random() < 0.88 else rng.choice(["cold", "dormant", "none"])
            maker.add(c["domain"], c if rng.random() < 0.93 else None, lvl, signup)
            if not maker.users[-1]["account"]:
                maker.users[-1]["company"] = c  # an orphan on its company's domain: still its company
    for d in ORPHAN_DOMAINS:
        for _ in range(3):
            maker.add(d, None, rng.choice(["warm", "cold", "hot"]), START + timedelta(days=rng.uniform(0, 110)))
    for _ in range(30):
        maker.add(rng.choice(FREE_DOMAINS), None, rng.choice(["cold", "dormant", "warm", "none"]),
                  START - timedelta(days=rng.uniform(0, 200)))
    return maker.users


def write_users(out: Path, users: list[dict]) -> None:
    with open(out / "users.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "email", "name", "title", "signup_at", "plan", "account_id"])
        for u in users:
            w.writerow([u["user_id"], u["email"], u["name"], u["title"],
                        u["signup_at"].strftime("%Y-%m-%dT%H:%M:%SZ"), u["plan"], u["account_id"]])


def user_events(rng: random.Random, u: dict) -> list[tuple[datetime, dict, str]]:
    """A user's events: a steady rate for its engagement, an intent burst before its company buys."""
    rate = PER_DAY[u["level"]]
    if rate == 0:
        return []
    first_day = max(START, u["signup_at"])
    if u["level"] == "dormant":  # active only long ago
        last_day = START + timedelta(days=40)
    else:
        last_day = AS_OF + timedelta(days=3)  # a few events after as_of: must not count
    span = (last_day - first_day).total_seconds()
    mix = HOT_MIX if u["level"] == "hot" else BASE_MIX
    names, weights = list(mix), list(mix.values())
    out = []
    if span > 0:
        for _ in range(max(1, int(rate * span / 86400 * rng.uniform(0.6, 1.4)))):
            out.append((first_day + timedelta(seconds=span * rng.random()), u, rng.choices(names, weights)[0]))
    company = u["account"] or u.get("company")
    became = company["became"] if company else None
    if became and u["level"] != "none" and became > START + timedelta(days=21):
        for _ in range(rng.randint(1, 4)):  # looking at pricing, inviting the team, in the weeks before buying
            out.append((became - timedelta(days=rng.uniform(0.5, 21)), u, rng.choice(INTENT_EVENTS)))
    if company and company["named"] and company["level"] == "hot" and u["level"] == "hot":
        for _ in range(rng.randint(0, 3)):  # the hot named accounts are evaluating right now
            out.append((AS_OF - timedelta(days=rng.uniform(0.2, 13.5)), u, rng.choice(INTENT_EVENTS[:3])))
    return [e for e in out if e[0] >= u["signup_at"]]  # nobody acts before signing up


def make_events(rng: random.Random, users: list[dict]) -> list[tuple[datetime, dict, str]]:
    events = []
    for u in users:
        for ts, user, ev in user_events(rng, u):
            events.append((ts.replace(microsecond=rng.randrange(1_000_000)), user, ev))
    events.sort(key=lambda e: (e[0], e[1]["user_id"]))
    return events


def event_props(rng: random.Random, ev: str) -> dict:
    if ev == "document_published":
        return {"word_count": rng.randrange(80, 4000), "template": rng.choice(["blank", "spec", "notes"])}
    if ev == "user_invited":
        return {"invitees": rng.randrange(1, 6)}
    if ev == "integration_connected":
        return {"integration": rng.choice(["slack", "github", "jira", "salesforce"])}
    if ev == "page_viewed":
        return {"path": rng.choice(["/home", "/docs", "/settings", "/pricing"])}
    return {}


def write_events(out: Path, rng: random.Random, events: list[tuple[datetime, dict, str]]) -> None:
    seg = io.StringIO()
    mix = io.StringIO()
    amp: dict[str, list[str]] = {}
    for ts, u, ev in events:
        props = event_props(rng, ev)
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


def write_firmographics(out: Path, companies: list[dict]) -> None:
    with open(out / "firmographics.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["domain", "name", "employees", "employees_range", "raised", "annual_revenue", "country", "industry"])
        emp = {c["domain"]: c["employees"] for c in companies} | ORPHAN_EMPLOYEES
        names_by_domain = {c["domain"]: c["name"] for c in companies}
        for domain, (raised, revenue, country, industry) in FIRMO.items():
            name = names_by_domain.get(domain) or domain.split(".")[0].title()
            w.writerow([domain, name, emp[domain], employees_range(emp[domain]), raised, revenue, country, industry])


def make(out: Path, seed: int) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    companies = make_companies(rng)
    write_companies(out, companies)
    users = make_users(rng, companies)
    write_users(out, users)
    events = make_events(rng, users)
    write_events(out, rng, events)
    write_firmographics(out, companies)
    customers = sum(1 for c in companies if c["became"])
    print(f"wrote {len(companies)} companies ({customers} customers), {len(users)} users, {len(events)} events to {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    make(args.out, args.seed)


if __name__ == "__main__":
    main()
