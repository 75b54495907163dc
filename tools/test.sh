#!/usr/bin/env bash
# The whole pgqrs test suite on throwaway PostgreSQL servers: `make test`.
#
# As root (CI, a fresh Debian machine with the PostgreSQL server package):
# installs the packages and the Python environment it needs, installs the
# extension, then runs the tests as an ordinary user, because PostgreSQL
# refuses to run as root. As another user: expects all that in place already.
#
#   1. pg_regress and isolation tests (make installcheck) on a cluster started here
#   2. the Python tests (pytest), whose set-up starts its own server
#
# Every server is stopped at the end, also when a test fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PG_VERSION=${PG_VERSION:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_VERSION/bin}
VENV=${PGQRS_VENV:-/opt/pgqrs-venv}
TEST_USER=${PGQRS_TEST_USER:-postgres}
export PATH="$PG_BIN:$PATH"

if [ "$(id -u)" = 0 ]; then
    missing=()
    for pkg in "postgresql-$PG_VERSION" "postgresql-server-dev-$PG_VERSION" pgbouncer python3-venv make; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi

    echo "== installing the extension"
    make -C "$repo" -s install PG_CONFIG="$PG_BIN/pg_config"

    echo "== installing the Python package into $VENV"
    [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$repo/python[test]"

    # The test user must be able to read the checkout; work on a copy if not.
    src=$repo
    if ! runuser -u "$TEST_USER" -- test -r "$repo/Makefile"; then
        src=$(mktemp -d /tmp/pgqrs-src.XXXXXX)
        cp -a "$repo/." "$src/"
        chown -R "$TEST_USER" "$src"
    fi
    exec runuser -u "$TEST_USER" -- env PG_VERSION="$PG_VERSION" PG_BIN="$PG_BIN" PGQRS_VENV="$VENV" \
        bash "$src/tools/test.sh"
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

echo "== Python tests (pytest)"
cd "$work"
PGQRS_PG_BIN="$PG_BIN" "$VENV/bin/pytest" -c "$repo/pytest.ini" --rootdir "$repo" "$repo/tests" || failed=1

exit $failed
