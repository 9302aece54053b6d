"""`pql enrich` and `pql providers`: look up firmographics for the workspace's company domains."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pqlcli.cli import common

if TYPE_CHECKING:
    from pqlcli.enrich import EnrichResult


def enrich(
    provider: Annotated[
        str, typer.Option("--provider", "-p", help="Provider name (see `pql providers`).", envvar="PQL_PROVIDER")
    ] = "stub",
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Provider option key=value (repeatable).")
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Look up every domain again, ignoring the cache.")] = False,
    ttl: Annotated[str, typer.Option("--ttl", help="Cache lifetime, e.g. 30d, 12h (default 30d).")] = "30d",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Save results every N answers.", min=1)] = 500,
) -> None:
    """Look up firmographics for account domains (and company email domains of users with no account)."""
    from pqlcli import render
    from pqlcli.enrich import EnrichmentFailed, parse_ttl
    from pqlcli.enrich import enrich as run_enrich

    ttl_days = parse_ttl(ttl)
    options = common.parse_kv(option, "--option")
    ws = common.workspace(create=True)
    try:
        with render.progress(f"Enriching via {provider}", unit="domains") as bar:
            result = run_enrich(
                ws, provider, options, refresh=refresh, ttl_days=ttl_days, progress=bar, batch_size=batch_size
            )
    except EnrichmentFailed as exc:
        _summary(exc.result)
        raise
    _summary(result)


def _summary(r: EnrichResult) -> None:
    from pqlcli import render
    from pqlcli.cli.flags import notice

    for warning in r.warnings:
        render.warn(notice(warning))
    render.info(
        f"[bold]Enriched via {r.provider}[/]: {r.domains} domains — {r.cached} cached, {r.looked_up} looked up "
        f"([green]{r.found} found[/], {r.not_found} not found, {r.errors} errors, {r.pending} pending) "
        f"in {r.elapsed:.1f}s ({r.lookups_per_second:.0f} lookups/s)."
    )
    for note in r.notes:
        render.note(note)
    if r.pending or r.errors:
        render.note("Pending lookups and network errors are asked again on the next `pql enrich`.")


def providers() -> None:
    """List the firmographics providers installed (built-in and plugins), their key env var and status."""
    from pqlcli import render
    from pqlcli.providers import registry

    reg = registry.load()
    for warning in reg.warnings:
        render.warn(warning)
    rows = []
    for name in sorted(reg.providers):
        cls = reg.providers[name]
        status_fn = getattr(cls, "status", None)
        rows.append([
            name,
            getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0],
            getattr(cls, "key_env", None) or "-",
            status_fn() if callable(status_fn) else "ready",
            reg.packages.get(name, ""),
        ])
    for name, broken in sorted(reg.broken.items()):
        rows.append([name, broken.error, "-", "broken", broken.package])
    render.table(None, ["provider", "description", "key env var", "status", "package"], rows, stderr=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("enrich")(enrich)
    app.command("providers")(providers)
