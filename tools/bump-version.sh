#!/usr/bin/env bash
# Starts the next version of the extension: `make bump-version VERSION=x.y.z`.
#
# Run it right after a release, before the SQL changes. It
#   1. freezes the released install script (built from extension/sql/ as it is
#      now) into extension/released/, where it stays, never edited: old
#      installs upgrade from it, and the upgrade tests install it;
#   2. writes the new version into every place that holds it: pgqrs.control
#      (the source the Makefile and the Python package read) and META.json;
#   3. starts extension/pgqrs--OLD--NEW.sql, the upgrade script that every
#      change to extension/sql/ must also be written into, by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

new=${1:-}
old=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" pgqrs.control)
if ! [[ $new =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "usage: make bump-version VERSION=x.y.z (now $old)" >&2
    exit 2
fi
if [ "$(printf '%s\n%s\n' "$old" "$new" | sort -V | tail -1)" != "$new" ] || [ "$old" = "$new" ]; then
    echo "version $new is not after $old" >&2
    exit 2
fi

frozen=extension/released/pgqrs--$old.sql
if [ -e "$frozen" ]; then
    echo "$frozen is frozen already"
else
    mkdir -p extension/released
    make -s "extension/pgqrs--$old.sql"  # the Makefile's own build of the install script
    cp "extension/pgqrs--$old.sql" "$frozen"
    echo "froze $frozen"
fi

sed -i "s/^default_version *= *'.*'/default_version = '$new'/" pgqrs.control
sed -i "s/^  \"version\": \".*\",\$/  \"version\": \"$new\",/; s/^      \"version\": \".*\"\$/      \"version\": \"$new\"/" META.json

upgrade=extension/pgqrs--$old--$new.sql
if [ ! -e "$upgrade" ]; then
    cat > "$upgrade" <<SQL
-- pgqrs $old to $new, for ALTER EXTENSION pgqrs UPDATE (and pgqrs install,
-- which runs it on a direct install). Every change to extension/sql/ since
-- $old goes here too, so that an upgraded schema equals a fresh $new one.
\\echo Use "ALTER EXTENSION pgqrs UPDATE TO '$new'" to load this file. \\quit

CREATE OR REPLACE FUNCTION @extschema@.version()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS \$\$ SELECT '$new'::text \$\$;
SQL
    echo "started $upgrade"
fi
make -s checkver
echo "now $new: write its changes into extension/sql/ and $upgrade, and a CHANGELOG.md section"
