#!/usr/bin/env bash
# Starts the next version of the extension: `make bump-version VERSION=x.y.z`.
#
# Run it right after a release, before the SQL changes. It
#   1. freezes the released scripts, as built from extension/sql/ now, into
#      extension/released/, where they stay, never edited: the install script
#      (old installs upgrade from it, and the upgrade tests install it) and the
#      upgrade script to the released version (its hand-written part in
#      extension/upgrade/ goes: the released script replaces it);
#   2. writes the new version into every place that holds it: pgqrs.control
#      (the source the Makefile and the Python package read) and META.json;
#   3. starts extension/upgrade/pgqrs--OLD--NEW.sql, the hand-written part of
#      the next upgrade script (table changes, drops, data moves): the build
#      adds every function and view of extension/sql/ at its marker line.
set -euo pipefail
cd "$(dirname "$0")/.."

new=${1:-}
old=$(python3 tools/version.py)
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
    for source in extension/upgrade/pgqrs--*--"$old".sql; do
        [ -e "$source" ] || continue
        built=extension/$(basename "$source")
        make -s "$built"  # the Makefile's own build of the upgrade script
        cp "$built" "extension/released/$(basename "$source")"
        rm "$source"
        echo "froze extension/released/$(basename "$source")"
    done
    make -s "extension/pgqrs--$old.sql"  # the Makefile's own build of the install script
    cp "extension/pgqrs--$old.sql" "$frozen"
    echo "froze $frozen"
fi

python3 tools/version.py set "$new"

upgrade=extension/upgrade/pgqrs--$old--$new.sql
if [ ! -e "$upgrade" ]; then
    mkdir -p extension/upgrade
    cat > "$upgrade" <<SQL
-- pgqrs $old to $new, for ALTER EXTENSION pgqrs UPDATE (and pgqrs install,
-- which runs it on a direct install).
--
-- Written here: what an upgrade must do besides (re)creating functions and
-- views: table changes, functions dropped because their arguments or result
-- changed, data moves. At the marker line, the build puts every function and
-- view of extension/sql/ as CREATE OR REPLACE.
\\echo Use "ALTER EXTENSION pgqrs UPDATE TO '$new'" to load this file. \\quit

-- pgqrs:functions

SELECT @extschema@._setup_roles();
SQL
    echo "started $upgrade"
fi
make -s checkver
echo "now $new: write its changes into extension/sql/ (and what else an upgrade must do into $upgrade), and a CHANGELOG.md section"
