#!/usr/bin/env bash
# The benchmark: `make bench` (or bench/run.sh --smoke for a run of seconds).
# As root it installs what it needs first; bench.py --help lists the options.
set -euo pipefail
source "$(dirname "$0")/../tools/lib.sh"

if [ "$(id -u)" = 0 ]; then
    prepare_as_root "$repo/python[bench]"
    rerun_as_user bench/run.sh "$@"
fi

# Results go to bench/results when this user may write there, else to /tmp.
out=${PGQRS_BENCH_OUT:-$repo/bench/results}
mkdir -p "$out" 2>/dev/null && [ -w "$out" ] || out=$(mktemp -d /tmp/pgqrs-bench-out.XXXXXX)
cd "$out"
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/python" "$repo/bench/bench.py" --out "$out" "$@"
# pgqrs behind PL/Proxy (bench/shard.py): short too when this run is.
smoke=()
for arg in "$@"; do [ "$arg" != --smoke ] || smoke=(--smoke); done
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/python" "$repo/bench/shard.py" --out "$out" "${smoke[@]}"
