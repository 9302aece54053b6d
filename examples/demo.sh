#!/usr/bin/env bash
# The whole pipeline on the bundled examples (run by `make demo`, with the venv on PATH).
# Steps are sequential and each one echoes a header; later steps (enrich, score, list, report) append below.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="$HERE/data"
export PQL_WORKSPACE="${PQL_WORKSPACE:-demo-out/.pql}"

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

step "0. Fresh workspace at $PQL_WORKSPACE"
rm -rf "$PQL_WORKSPACE"
mkdir -p "$PQL_WORKSPACE"

step "1. Ingest accounts (HubSpot Companies export)"
pql ingest accounts "$DATA/hubspot-companies.csv" --format hubspot

step "2. Ingest users (product database export)"
pql ingest users "$DATA/users.csv"

step "3. Ingest events (Segment tracks, Mixpanel export, Amplitude export)"
pql ingest events "$DATA/segment-tracks.jsonl" --format segment
pql ingest events "$DATA/mixpanel-export.jsonl" --format mixpanel
pql ingest events "$DATA/amplitude-export.zip" --format amplitude

step "4. Re-ingest the same Segment file: adds nothing"
pql ingest events "$DATA/segment-tracks.jsonl"

step "5. Workspace status"
pql status

step "6. Enrich company domains through the embedded Clearbit-compatible stub (real HTTP on loopback)"
pql enrich --provider stub

step "7. Validate the config against the workspace, then score"
pql config validate --config "$HERE/../config/pql.yaml"
pql score --config "$HERE/../config/pql.yaml"

step "8. A rep's leads (PQL_OWNER=ana@ourco.com), best first, with the reasons"
PQL_OWNER=ana@ourco.com pql list users --owner me --limit 15

step "9. Unowned Tier 1 leads, for routing"
pql list users --owner none --tier 1 --limit 10

step "10. Why is the top lead a lead?"
TOP="$(PQL_OWNER=ana@ourco.com pql list users --owner me --limit 1 --columns email --format csv | tail -n 1)"
pql explain "$TOP"

step "11. Tier report in the terminal, and as one self-contained HTML page"
pql tiers report
OUT_DIR="$(dirname "$PQL_WORKSPACE")"
pql tiers report --format html --out "$OUT_DIR/report.html"
echo "Wrote $OUT_DIR/report.html — open it in any browser."

step "12. The same config as warehouse SQL (Snowflake dialect)"
pql sql --dialect snowflake --config "$HERE/../config/pql.yaml" > "$OUT_DIR/pql_scores.snowflake.sql"
echo "Wrote $OUT_DIR/pql_scores.snowflake.sql ($(wc -l < "$OUT_DIR/pql_scores.snowflake.sql") lines); its steps and rules:"
# awk reads to the end (head would stop early and, under pipefail, fail the demo with SIGPIPE)
grep -oE "/\* .* \*/" "$OUT_DIR/pql_scores.snowflake.sql" | awk 'NR <= 32'

step "13. Does the score predict? Replay it as of 2026-08-15 and compare with the next 60 days' conversions"
pql backtest --as-of 2026-08-15 --horizon 60d --config "$HERE/../config/pql.yaml" --format md
pql backtest --as-of 2026-08-15 --horizon 60d --config "$HERE/../config/pql.yaml" --out "$OUT_DIR/backtest.html"

step "14. Calibrate: suggested thresholds and points (your config is never changed)"
pql calibrate --as-of 2026-08-15 --horizon 60d --config "$HERE/../config/pql.yaml" --format md \
  --write "$OUT_DIR/pql.suggested.yaml"
pql calibrate --as-of 2026-08-15 --horizon 60d --config "$HERE/../config/pql.yaml" --out "$OUT_DIR/calibration.html" \
  --write "$OUT_DIR/pql.suggested.yaml"
pql config validate --config "$OUT_DIR/pql.suggested.yaml"
echo "Wrote $OUT_DIR/backtest.html, $OUT_DIR/calibration.html and $OUT_DIR/pql.suggested.yaml next to the tier report."

step "Done"
echo "Workspace: $PQL_WORKSPACE — try: PQL_WORKSPACE=$PQL_WORKSPACE .venv/bin/pql list accounts"

step "13. New PQLs as a Slack message (dry run: the payload is printed, nothing is sent or recorded)"
pql notify --template slack --group-by owner --max 3 --dry-run

step "14. A HubSpot contacts import file (Email + pql_* properties; only changes on later runs)"
pql export crm --to hubspot --level user --changed-only --out "$OUT_DIR/pql-hubspot-contacts.csv"
awk 'NR <= 4' "$OUT_DIR/pql-hubspot-contacts.csv"
