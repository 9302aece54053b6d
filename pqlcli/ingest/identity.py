"""Identity resolution: one person, one record (see docs/identity.md).

Every users/accounts row ingested is kept as a *record* of its source (``user_records`` /
``account_records``, keyed by source and id). Records that share a normalised email (users) or a
normalised company domain (accounts), and ids joined by identity calls (Segment identify/alias,
anonymousId -> userId, Mixpanel ``$identify``/``$merge``/``$create_alias``: the ``identity_links``
table), are one connected component: one person (or account). Its canonical id is chosen
deterministically (an id with a product record first, then one with a CRM record, then any; the
smallest such id), so the same data always gives the same ids, whatever the order of ingests.

From the records, :func:`resolve` derives the ``users`` and ``accounts`` tables (one row per person,
each trait taken by a configurable precedence), the ``identities`` table (every id seen, its canonical
id and its sources), and re-keys the stored event parts whose ids changed canonical id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.workspace import Workspace

CRM_SOURCES = ("hubspot", "salesforce")
RECORDS = {"users": "user_records", "accounts": "account_records"}
KEYS = {"users": "user_id", "accounts": "account_id"}
LINKS = "identity_links"
IDENTITIES = "identities"
SOURCE, SEQ = "_source", "_seq"
# trait -> "crm" (CRM sources first), "product" (non-CRM first), or a list of source names in order;
# a trait not listed takes the newest non-null value.
# "earliest"/"latest": the smallest/largest value (a person signed up when any system first saw them).
DEFAULT_PRECEDENCE: dict[str, str | list[str]] = {
    "owner": "crm", "plan": "product", "signup_at": "earliest", "created_at": "earliest"}
_MAX_ROUNDS = 100
# zstd level of the whole tables an ingest rewrites (records, users, accounts): level 1 measured ~20 % less
# CPU than Polars' default for a few % larger files (the staged events use it too)
ZSTD_LEVEL = 1
_RULES = ("crm", "product", "earliest", "latest", "newest")


@dataclass
class Resolution:
    """What :func:`resolve` did."""

    users_merged: int = 0  # user ids that became aliases of another id
    accounts_merged: int = 0
    parts_rekeyed: int = 0  # stored event parts rewritten with new canonical ids


def components(nodes: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """``id -> canonical`` for every id in ``nodes`` (``id``, ``rank``) or ``edges`` (``a``, ``b``).

    Label propagation: each id takes the smallest ``(rank, id)`` label among its neighbours until
    nothing changes (rounds ~ the longest chain of links, usually 2-3). Ids without a node get rank 9.
    """
    ids = pl.concat([nodes.select("id", "rank"),
                     edges.select(pl.col("a").alias("id"), pl.lit(9).alias("rank")),
                     edges.select(pl.col("b").alias("id"), pl.lit(9).alias("rank"))], how="vertical_relaxed")
    ids = ids.group_by("id").agg(pl.col("rank").min())
    label = ids.select("id", (pl.col("rank").cast(pl.String).str.zfill(2) + "\x1f" + pl.col("id")).alias("label"))
    both = pl.concat([edges.select("a", "b"), edges.select(pl.col("b").alias("a"), pl.col("a").alias("b"))])
    for _ in range(_MAX_ROUNDS):
        nxt = (both.join(label, left_on="b", right_on="id").group_by("a").agg(pl.col("label").min().alias("n"))
               .join(label, left_on="a", right_on="id", how="right")
               .select("id", pl.min_horizontal("label", "n").alias("label")))
        changed = nxt.join(label, on="id", suffix="_old").filter(pl.col("label") != pl.col("label_old")).height
        label = nxt
        if not changed:
            break
    return label.select("id", pl.col("label").str.split_exact("\x1f", 1).struct.field("field_1").alias("canonical"))


def _rank(kind: str) -> pl.Expr:
    """0 for an id with a product record, 1 for a CRM record (the canonical id is a product id if any)."""
    return pl.when(pl.col(SOURCE).is_in(CRM_SOURCES)).then(pl.lit(1, pl.Int32)).otherwise(pl.lit(0, pl.Int32))


def repeated(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """Per row of ``frame``: whether another row holds the same values of ``columns`` (exact, like
    ``is_duplicated``). A row whose 64-bit hash no other row has is certainly alone; only the others
    (usually none) go through the exact check. Sorted hashes put a repeat next to its twin: measured
    ~1/5 of the CPU of ``is_duplicated``/``n_unique`` (a hash table of the values) at 1M ids."""
    value = pl.struct(list(columns)) if len(columns) > 1 else pl.col(columns[0])
    hashes = frame.select(value.hash(7)).to_series()
    ordered = hashes.sort()
    twins = ordered.filter((ordered == ordered.shift(1)) | (ordered == ordered.shift(-1))).unique()
    if twins.is_empty():
        return pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    maybe = frame.select(list(columns)).with_row_index("__row").filter(hashes.is_in(twins.implode()))
    rows = maybe.filter(value.is_duplicated()).get_column("__row")
    return pl.int_range(0, frame.height, dtype=pl.UInt32, eager=True).is_in(rows.implode())


def _attribute_edges(records: pl.LazyFrame, kind: str) -> pl.DataFrame:
    """Edges between records sharing a normalised email (users) or company domain (accounts)."""
    key = KEYS[kind]
    if kind == "users":
        attr = pl.col("email").str.strip_chars().str.to_lowercase() if "email" in records.collect_schema() else pl.lit(None, pl.String)
    else:
        from pqlcli.util.domains import free_email_domains

        domain = pl.col("domain") if "domain" in records.collect_schema() else pl.lit(None, pl.String)
        attr = pl.when(domain.is_in(sorted(free_email_domains()))).then(None).otherwise(domain)
    keyed = records.select(pl.col(key).alias("a"), attr.alias("_attr")).filter(pl.col("_attr").is_not_null()).collect()
    # only records whose value another record holds (usually few) go through the group-by and join
    keyed = keyed.filter(repeated(keyed, ["_attr"]))
    hub = (keyed.group_by("_attr").agg(pl.col("a").min().alias("b"), pl.col("a").max().alias("_last"))
           .filter(pl.col("b") != pl.col("_last")).drop("_last"))
    return keyed.join(hub, on="_attr").select("a", "b").filter(pl.col("a") != pl.col("b"))


def id_map(ws: Workspace, kind: str, records: pl.LazyFrame | None = None) -> pl.DataFrame:
    """``id -> canonical`` for every id of ``kind`` that shares its person (or account) with another id.

    An id not listed is its own canonical id: only the ids of an email, domain or identity link shared
    by more than one id can merge, so only they go through :func:`components` (with the rank of their
    records); on data without merges this is one hash pass over the emails (or domains) and no more.
    ``records``: the stored records of ``kind`` if the caller holds them (else they are read).
    """
    key = KEYS[kind]
    records = ws.scan_or_none(RECORDS[kind]) if records is None else records
    edges = [_EMPTY_EDGES] if records is None else [_attribute_edges(records, kind)]
    if ws.has_table(LINKS):
        edges.append(ws.scan(LINKS).filter(pl.col("kind") == kind).select("a", "b").collect())
    found = pl.concat(edges, how="vertical_relaxed")
    if found.is_empty():
        return pl.DataFrame(schema={"id": pl.String, "canonical": pl.String})
    ends = pl.concat([found["a"], found["b"]]).unique().to_frame("id").lazy()
    nodes = (_EMPTY_NODES if records is None else
             records.select(pl.col(key).alias("id"), _rank(kind).cast(pl.Int32).alias("rank")).join(ends, on="id", how="semi").collect())
    return components(nodes, found)


_EMPTY_EDGES = pl.DataFrame(schema={"a": pl.String, "b": pl.String})
_EMPTY_NODES = pl.DataFrame(schema={"id": pl.String, "rank": pl.Int32})


def _precedence_rank(column: str, rule: str | Sequence[str]) -> pl.Expr:
    if rule == "crm":
        return pl.when(pl.col(SOURCE).is_in(CRM_SOURCES)).then(pl.lit(0, pl.Int32)).otherwise(pl.lit(1, pl.Int32))
    if rule == "product":
        return pl.when(pl.col(SOURCE).is_in(CRM_SOURCES)).then(pl.lit(1, pl.Int32)).otherwise(pl.lit(0, pl.Int32))
    order = [rule] if isinstance(rule, str) else list(rule)
    return pl.col(SOURCE).replace_strict(order, list(range(len(order))), default=len(order), return_dtype=pl.Int32)


def _pick(column: str, rule: str | Sequence[str] | None, key: str) -> pl.Expr:
    """The value of ``column`` for a person: by precedence, then the newest non-null record (ties: the
    source's name, then the record's id, so the result never depends on row order)."""
    if rule == "newest":
        rule = None
    if rule in ("earliest", "latest"):
        return pl.col(column).min() if rule == "earliest" else pl.col(column).max()
    keys = [pl.col(column).is_null()]
    if rule is not None:
        keys.append(_precedence_rank(column, rule))
    keys += [pl.col(SEQ), pl.col(SOURCE), pl.col(key)]
    descending = [False] * (len(keys) - 3) + [True, False, False]
    return pl.col(column).sort_by(keys, descending=descending).first()


def _merged_table(records: pl.LazyFrame, mapping: pl.DataFrame, kind: str,
                  precedence: Mapping[str, str | Sequence[str]]) -> pl.DataFrame:
    """One row per person (or account): a person with one record is that record as it is (what
    :func:`_picked` gives for a group of one), the others go through :func:`_picked`.

    A person has several records when its id is in ``mapping`` (it shares the person with other ids)
    or when several sources hold a record under its id."""
    key = KEYS[kind]
    columns = _columns(records, kind)
    frame = records.collect()
    canonical = pl.col(key)
    if mapping.height:
        frame = frame.join(mapping.select(pl.col("id").alias(key), pl.col("canonical").alias("__canonical")), on=key, how="left")
        canonical = pl.coalesce("__canonical", key)
    frame = frame.with_columns(canonical.alias("canonical"))
    shared = repeated(frame, ["canonical"])
    if not shared.any():  # everyone has one record
        return frame.select(pl.col("canonical").alias(key), *columns).sort(key)
    single = frame.filter(~shared).select(pl.col("canonical").alias(key), *columns)
    merged = _picked(frame.filter(shared).lazy(), key, columns, precedence).collect()
    return pl.concat([single, merged], how="vertical_relaxed").sort(key)


def _columns(records: pl.LazyFrame, kind: str) -> list[str]:
    """The trait columns of the records in a stable order, whatever the ingest order."""
    from pqlcli.workspace.schema import SCHEMAS

    key = KEYS[kind]
    present = [c for c in records.collect_schema() if c not in (key, SOURCE, SEQ)]
    canonical = [c for c in SCHEMAS[kind].columns if c in present]
    return canonical + sorted(c for c in present if c not in canonical)


def _picked(joined: pl.LazyFrame, key: str, columns: list[str], precedence: Mapping[str, str | Sequence[str]]) -> pl.LazyFrame:
    """The general path: records (with their ``canonical`` id) grouped by person, each trait picked by
    its precedence rule."""
    merged = joined.group_by("canonical").agg([_pick(c, precedence.get(c), key).alias(c) for c in columns])
    return merged.rename({"canonical": key}).select(key, *columns)


def _changed(mapping: pl.DataFrame) -> pl.DataFrame:
    return mapping.filter(pl.col("id") != pl.col("canonical"))


def resolve(ws: Workspace, precedence: Mapping[str, str | Sequence[str]] | None = None,
            written: Mapping[str, pl.DataFrame] | None = None) -> Resolution:
    """Rebuild ``users``, ``accounts`` and ``identities`` from the records and links; re-key events.

    ``written``: kind -> the records table the caller has just written (read from memory, not again
    from disk).

    The events are re-keyed before ``identities`` is written: ``identities`` is the record of what the
    stored events are keyed by, so after a crash in between the next resolve re-keys them again.
    """
    rules = {**DEFAULT_PRECEDENCE, **stored_precedence(ws), **(precedence or {})}
    records = {kind: written[kind].lazy() if written and kind in written else ws.scan_or_none(RECORDS[kind])
               for kind in ("users", "accounts")}
    maps = {kind: id_map(ws, kind, records[kind]) for kind in ("users", "accounts")}
    account_alias = _changed(maps["accounts"])
    for kind in ("accounts", "users"):
        frame = records[kind]
        if frame is None:
            continue
        table = _merged_table(frame, maps[kind], kind, rules)
        if "account_id" in table.columns and account_alias.height:
            table = table.with_columns(pl.col("account_id").replace(account_alias["id"], account_alias["canonical"]))
        ws.write_table(kind, table, ZSTD_LEVEL)
    moved = {kind: _moved(ws, kind, mapping) for kind, mapping in maps.items()}
    parts = rekey_events(ws, moved["users"], moved["accounts"]) if moved["users"].height or moved["accounts"].height else 0
    _write_identities(ws, maps, records)
    return Resolution(_changed(maps["users"]).height, account_alias.height, parts)


def _moved(ws: Workspace, kind: str, mapping: pl.DataFrame) -> pl.DataFrame:
    """Ids whose canonical id differs from the one the stored events were keyed with (the last
    ``identities``). Both sides list only ids that share their person with another id (an id on
    neither side is its own canonical id), so an id moves when it joins a person, leaves one, or its
    person's canonical id changes."""
    before = canonical_ids(ws, kind, everyone=True).rename({"canonical": "_before"})
    joined = mapping.join(before, on="id", how="full", coalesce=True)
    now = pl.coalesce("canonical", "id")
    return joined.filter(now != pl.coalesce("_before", "id")).select("id", now.alias("canonical"))


def _write_identities(ws: Workspace, maps: dict[str, pl.DataFrame], records: Mapping[str, pl.LazyFrame | None]) -> None:
    """``identities``: kind, alias, canonical_id, source (where the id was seen), record (it has a record),
    for every id that shares its person (or account) with another id. An id alone in its person has no
    row (see :func:`aliases_of`): on data without merges the table is empty."""
    frames = []
    for kind, mapping in maps.items():
        ids = mapping.lazy().select("id")
        sources = []
        stored = records[kind]
        if stored is not None:
            seen_in = stored.select(pl.col(KEYS[kind]).alias("id"), pl.col(SOURCE).alias("source"), pl.lit(True).alias("record"))
            sources.append(seen_in.join(ids, on="id", how="semi"))
        if ws.has_table(LINKS):
            links = ws.scan(LINKS).filter(pl.col("kind") == kind)
            sources += [links.select(pl.col(end).alias("id"), "source", pl.lit(False).alias("record")) for end in ("a", "b")]
        seen = (pl.concat(sources).group_by("id").agg(pl.col("source").unique().sort().str.join(", "), pl.col("record").any())
                if sources else pl.LazyFrame(schema={"id": pl.String, "source": pl.String, "record": pl.Boolean}))
        frames.append(mapping.lazy().join(seen, on="id", how="left").select(
            pl.lit(kind.rstrip("s")).alias("kind"), pl.col("id").alias("alias"),
            pl.col("canonical").alias("canonical_id"), pl.col("source"), pl.col("record").fill_null(False)))
    ws.write_table(IDENTITIES, pl.concat(frames).sort("kind", "canonical_id", "alias").collect())


def rekey_events(ws: Workspace, users: pl.DataFrame, accounts: pl.DataFrame) -> int:
    """Rewrite only the event parts holding an id whose canonical id changed; all of them at once.

    ``users``/``accounts`` hold the ids whose canonical id changed: a row whose ``source_user_id`` is one
    of them gets its new canonical ``user_id``; a stored ``account_id`` that is one of them is replaced.
    Parts without a changed id are not touched. In a bucketed events table a re-keyed row moves to its
    new canonical id's bucket (so all of a person's events meet in one bucket). Every rewritten part and
    moved row becomes visible in one :class:`~pqlcli.workspace.commit.Commit`. Returns the parts rewritten.
    """
    from pqlcli.util.clock import stamp as clock_stamp
    from pqlcli.workspace.commit import Commit

    if not ws.has_table("events"):
        return 0
    n, rewritten, stamp = ws.event_bucket_count(), 0, clock_stamp()
    with Commit(ws.root) as commit:
        for i, part in enumerate(ws.table_files("events")):
            frame = pl.scan_parquet(part)
            # the export's id: stored only where it differs from user_id (NULL: the same)
            raw = pl.coalesce("source_user_id", "user_id") if "source_user_id" in frame.collect_schema() else pl.col("user_id")
            user = raw.replace_strict(users["id"], users["canonical"], default=pl.col("user_id"), return_dtype=pl.String)
            account = pl.col("account_id").replace(accounts["id"], accounts["canonical"])
            differs = (user != pl.col("user_id")) | (account != pl.col("account_id")).fill_null(False)
            if not frame.select(differs.any()).collect().item():
                continue
            rekeyed = frame.with_columns(user.alias("user_id"), account.alias("account_id"),
                                         pl.when(raw != user).then(raw).alias("source_user_id"))
            home = part.parent.name
            if n <= 1 or not home.startswith("bucket="):
                staged = commit.stage(f"{i}.parquet")
                rekeyed.sink_parquet(staged)
                commit.move(staged, part)
            else:
                _move_to_buckets(commit, rekeyed, part, int(home.split("=", 1)[1]), n, f"{i}", stamp)
            rewritten += 1
        commit.apply()
    return rewritten


def _move_to_buckets(commit: Any, rekeyed: pl.LazyFrame, part: Path, home: int, n: int, name: str, stamp: str) -> None:
    """Stage a re-keyed part of bucket ``home``: its rows that stay replace it; rows now keyed to a user of
    another bucket become a new part of that bucket (named after the part, the time and ``home``)."""
    from pqlcli.workspace.buckets import bucket_dir, bucket_expr, check_scheme

    check_scheme()
    staged = commit.stage(name)
    target = pl.PartitionBy(staged, key=bucket_expr(n).alias("__bucket"), include_key=False, approximate_bytes_per_file=None)
    rekeyed.sink_parquet(target, mkdir=True)
    kept = False
    for file in sorted(staged.glob("__bucket=*/*.parquet")):
        bucket = int(file.parent.name.split("=", 1)[1])
        if bucket == home and not kept:
            commit.move(file, part)
            kept = True
        else:
            commit.move(file, bucket_dir(part.parent.parent, bucket) / f"{part.stem}-k{stamp}-{home:03d}-{file.stem}.parquet")
    if not kept:  # every row of the part moved to other buckets
        commit.delete(part)


def canonical_ids(ws: Workspace, kind: str = "users", everyone: bool = False) -> pl.DataFrame:
    """``id`` -> ``canonical`` for the aliases of ``kind`` (ids that are not their own canonical id;
    ``everyone``: every id of the ``identities`` table, i.e. also the canonical ids of persons with
    aliases; an id not listed is its own canonical id)."""
    if not ws.has_table(IDENTITIES):
        return pl.DataFrame(schema={"id": pl.String, "canonical": pl.String})
    rows = ws.scan(IDENTITIES).filter(pl.col("kind") == kind.rstrip("s"))
    if not everyone:
        rows = rows.filter(pl.col("alias") != pl.col("canonical_id"))
    return rows.select(pl.col("alias").alias("id"), pl.col("canonical_id").alias("canonical")).collect()


def aliases_of(ws: Workspace | str | os.PathLike[str], record_id: str, kind: str = "users") -> list[dict[str, Any]]:
    """Every id of the person (or account) that ``record_id`` belongs to: ``alias``, ``source`` (the
    systems or identity calls it was seen in), ``canonical`` (True for the canonical id), ``record``
    (True if a users/accounts row was ingested under it). ``record_id`` may be any alias; [] if unknown."""
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws)
    if not ws.has_table(IDENTITIES):
        return []
    table = ws.scan(IDENTITIES).filter(pl.col("kind") == kind.rstrip("s"))
    owner = table.filter(pl.col("alias") == record_id).select("canonical_id").collect()
    if owner.is_empty():
        return _alone(ws, record_id, kind)
    rows = table.filter(pl.col("canonical_id") == owner.item(0, 0)).collect()
    return [{"alias": r["alias"], "source": r["source"], "canonical": r["alias"] == r["canonical_id"],
             "record": r["record"]} for r in rows.to_dicts()]


def _alone(ws: Workspace, record_id: str, kind: str) -> list[dict[str, Any]]:
    """The one id of a person (or account) known by no other id: such an id has no ``identities`` row,
    its records say where it was seen. [] if there is no record under it either."""
    plural = kind.rstrip("s") + "s"
    if not ws.has_table(RECORDS[plural]):
        return []
    seen = ws.scan(RECORDS[plural]).filter(pl.col(KEYS[plural]) == record_id).select(pl.col(SOURCE).unique().sort()).collect()
    if seen.is_empty():
        return []
    return [{"alias": record_id, "source": ", ".join(seen[SOURCE].to_list()), "canonical": True, "record": True}]


def identity_status(ws: Workspace, examples: int = 5) -> dict[str, Any]:
    """How many ids were merged, and how many events belong to no known person (with sample ids from
    both sides and the fix): for ``pql status``."""
    out: dict[str, Any] = {"users_merged": 0, "accounts_merged": 0, "anonymous_linked": 0,
                           "events_unknown_user": 0, "unknown_user_examples": [], "users_without_events_examples": []}
    if ws.has_table(IDENTITIES):
        aliases = ws.scan(IDENTITIES).filter(pl.col("alias") != pl.col("canonical_id"))
        for kind, record, n in aliases.group_by("kind", "record").len().collect().iter_rows():
            key = {("user", True): "users_merged", ("account", True): "accounts_merged"}.get((kind, record), "anonymous_linked")
            out[key] += n
    if not (ws.has_table("events") and ws.has_table("users")):
        return out
    known = ws.scan("users").select("user_id")
    events = ws.scan("events").select("user_id")
    unknown = events.join(known, on="user_id", how="anti")
    stats = unknown.group_by("user_id").len().sort("len", "user_id", descending=[True, False]).collect()
    out["events_unknown_user"] = int(stats["len"].sum())
    out["unknown_user_examples"] = stats["user_id"].head(examples).to_list()
    idle = known.join(events.unique(), on="user_id", how="anti").sort("user_id").head(examples).collect()
    out["users_without_events_examples"] = idle["user_id"].to_list()
    if out["events_unknown_user"]:
        out["hint"] = ("These events use ids no users row has. If the same people are in the users table under "
                       "other ids, ingest the calls that link them (Segment identify with traits.email or an "
                       "anonymousId, alias calls, Mixpanel $identify/$merge) or a users export carrying both the "
                       "product id and the email (`pql ingest users FILE`); events are re-keyed to the person.")
    return out


def add_links(ws: Workspace, links: pl.DataFrame) -> int:
    """Store identity links (``kind``, ``a``, ``b``, ``source``); returns how many were new."""
    links = links.filter(pl.col("a").is_not_null() & pl.col("b").is_not_null() & (pl.col("a") != pl.col("b"))).unique()
    if links.is_empty():
        return 0
    if ws.has_table(LINKS):
        old = ws.scan(LINKS).collect()
        new = links.join(old, on=["kind", "a", "b", "source"], how="anti")
        if new.is_empty():
            return 0
        ws.write_table(LINKS, pl.concat([old, new], how="vertical_relaxed"))
        return new.height
    ws.write_table(LINKS, links)
    return links.height


def stored_precedence(ws: Workspace) -> dict[str, str | list[str]]:
    return dict(ws.manifest().get("identity", {}).get("precedence", {}))


def save_precedence(ws: Workspace, precedence: Mapping[str, str | Sequence[str]]) -> None:
    manifest = ws.manifest()
    stored = manifest.setdefault("identity", {}).setdefault("precedence", {})
    stored.update({k: v if isinstance(v, str) else list(v) for k, v in precedence.items()})
    ws.save_manifest(manifest)


def parse_precedence(values: Mapping[str, str]) -> dict[str, str | list[str]]:
    """``{"owner": "hubspot,salesforce"}`` -> ``{"owner": ["hubspot", "salesforce"]}`` (``crm``/``product`` kept)."""
    out: dict[str, str | list[str]] = {}
    for column, spec in values.items():
        names = [s.strip().lower() for s in spec.split(",") if s.strip()]
        out[column] = names[0] if len(names) == 1 and names[0] in _RULES else names
    return out


__all__ = [
    "DEFAULT_PRECEDENCE",
    "Resolution",
    "add_links",
    "aliases_of",
    "canonical_ids",
    "components",
    "identity_status",
    "parse_precedence",
    "rekey_events",
    "resolve",
    "save_precedence",
]
