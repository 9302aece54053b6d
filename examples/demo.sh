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
