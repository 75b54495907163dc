#!/usr/bin/env bash
# The benchmark: `make bench` (or bench/run.sh --smoke for a run of seconds).
# As root it installs what it needs first; bench.py --help lists the options.
# Then, unless --smoke or --only, the long version of tests/test_failover.py: failovers in a
# row under load (PGQRS_FAILOVER_ROUNDS, PGQRS_FAILOVER_MESSAGES per producer), its figures
# printed and kept in failover.txt beside the benchmark's results.
set -euo pipefail
source "$(dirname "$0")/../tools/lib.sh"

if [ "$(id -u)" = 0 ]; then
    prepare_as_root "$repo/python[bench,test]"
    rerun_as_user bench/run.sh "$@"
fi

# Results go to bench/results when this user may write there, else to /tmp.
out=${PGQRS_BENCH_OUT:-$repo/bench/results}
mkdir -p "$out" 2>/dev/null && [ -w "$out" ] || out=$(mktemp -d /tmp/pgqrs-bench-out.XXXXXX)
cd "$out"
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/python" "$repo/bench/bench.py" --out "$out" "$@"

case " $* " in
    *" --smoke "* | *" --only "*) ;;
    *) PGQRS_FAILOVER_ROUNDS=${PGQRS_FAILOVER_ROUNDS:-5} PGQRS_FAILOVER_MESSAGES=${PGQRS_FAILOVER_MESSAGES:-10000} \
           PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/pytest" -c "$repo/pytest.ini" --rootdir "$repo" -q -s \
           "$repo/tests/test_failover.py" | tee "$out/failover.txt" ;;
esac
# pgqrs behind PL/Proxy (bench/shard.py): short too when this run is.
smoke=()
for arg in "$@"; do [ "$arg" != --smoke ] || smoke=(--smoke); done
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/python" "$repo/bench/shard.py" --out "$out" "${smoke[@]}"
