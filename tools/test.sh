#!/usr/bin/env bash
# The whole pgqrs test suite on throwaway PostgreSQL servers: `make test`.
#
# As root (CI, a fresh Debian machine with the PostgreSQL server package):
# installs the packages and the Python environment it needs, installs the
# extension, then runs the tests as an ordinary user, because PostgreSQL
# refuses to run as root. As another user: expects all that in place already.
#
#   1. pg_regress and isolation tests (make installcheck) on a cluster started here
#   2. a smoke run of the benchmark (seconds; it checks that it runs, never a speed)
#   3. the Python tests (pytest), whose set-up starts its own server
#
# Every server is stopped at the end, also when a test fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" = 0 ]; then
    prepare_as_root "$repo/python[test]" pgmq matplotlib
    rerun_as_user tools/test.sh
fi

work=$(mktemp -d /tmp/pgqrs-test.XXXXXX)
port=${PGQRS_TEST_PORT:-55432}
stop_cluster() {
    pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap stop_cluster EXIT

echo "== starting PostgreSQL $PG_VERSION on port $port"
initdb -D "$work/data" -A trust -U postgres --no-sync >/dev/null
pg_ctl -D "$work/data" -l "$work/server.log" -w \
    -o "-p $port -k $work -c listen_addresses='' -c fsync=off" start >/dev/null

failed=0
echo "== SQL tests (pg_regress, isolation)"
if ! make -C "$repo" -s installcheck PG_CONFIG="$PG_BIN/pg_config" TEST_OUTPUT="$work/results" \
        PGHOST="$work" PGPORT="$port" PGUSER=postgres; then
    cat "$work"/results/*/regression.diffs 2>/dev/null || true
    failed=1
fi

echo "== benchmark smoke run"
"$VENV/bin/python" "$repo/bench/bench.py" --smoke --pg-bin "$PG_BIN" --out "$work/bench" || failed=1

echo "== Python tests (pytest)"
cd "$work"
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/pytest" -c "$repo/pytest.ini" --rootdir "$repo" "$repo/tests" || failed=1

exit $failed
