"""Build hook: put the extension's install and upgrade scripts into the package.

The scripts are built exactly as the Makefile builds them: the install script
from the fragments listed in extension/sql/fragments.txt, concatenated, with
@PGQRS_VERSION@ replaced by default_version from pgqrs.control; the upgrade
script to this version from its hand-written part in extension/upgrade/, with
the function fragments at its marker line. So a direct install runs the same
SQL as CREATE EXTENSION, and there is never a second, hand-kept copy. The
frozen scripts of released versions come from extension/released/.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE_SQL = HERE / "src" / "pgqrs" / "sql"
MARKER = "-- pgqrs:functions"


def control_version(control: Path) -> str:
    """default_version of the control file, read by the repository's one reader (tools/version.py)."""
    spec = importlib.util.spec_from_file_location("pgqrs_tools_version", control.parent / "tools" / "version.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.read(control.parent))


def _fragments(repo: Path, functions_only: bool = False) -> list[str]:
    """The fragment names of fragments.txt, in order; or those between its "functions" lines."""
    names, inside = [], False
    for line in (repo / "extension" / "sql" / "fragments.txt").read_text().splitlines():
        line = line.strip()
        if line in ("# -- functions", "# -- end of functions"):
            inside = line == "# -- functions"
        elif line and not line.startswith("#") and (inside or not functions_only):
            names.append(line)
    return names


def build_script(repo: Path = REPO) -> tuple[str, str]:
    """(version, install script text) from the fragments, in the order of fragments.txt."""
    version = control_version(repo / "pgqrs.control")
    text = "".join((repo / "extension" / "sql" / name).read_text() for name in _fragments(repo))
    return version, text.replace("@PGQRS_VERSION@", version)


def build_upgrade(source: Path, repo: Path = REPO) -> str:
    """An upgrade script: the hand-written part, the function fragments (CREATE OR REPLACE) at its marker."""
    version = control_version(repo / "pgqrs.control")
    functions = "".join((repo / "extension" / "sql" / name).read_text() for name in _fragments(repo, True))
    functions = re.sub(r"^CREATE (FUNCTION|VIEW) ", r"CREATE OR REPLACE \1 ", functions, flags=re.MULTILINE)
    before, marker, after = source.read_text().partition(MARKER + "\n")
    if not marker:
        raise RuntimeError(f"{source} has no line {MARKER!r}")
    return before + functions.replace("@PGQRS_VERSION@", version) + after


def manifest(script: str) -> str:
    """What pgqrs.install checks and removes, as JSON: the install script's tables and views, and
    every function with its argument types, from its COMMENT ON FUNCTION line (every function has
    one: the catalog test checks it)."""
    names = re.findall(r"^CREATE FUNCTION @extschema@\.(\w+)\(", script, re.MULTILINE)
    signatures = dict(re.findall(r"^COMMENT ON FUNCTION @extschema@\.(\w+)\(([^()]*)\)", script, re.MULTILINE))
    missing = [name for name in names if name not in signatures]
    if missing:
        raise RuntimeError(f"functions without a COMMENT ON FUNCTION line: {', '.join(missing)}")
    return json.dumps({
        "tables": re.findall(r"^CREATE TABLE @extschema@\.(\w+)", script, re.MULTILINE),
        "views": re.findall(r"^CREATE VIEW @extschema@\.(\w+)", script, re.MULTILINE),
        "types": re.findall(r"^CREATE TYPE @extschema@\.(\w+)", script, re.MULTILINE),
        "functions": [f"{name}({signatures[name].strip()})" for name in names],
    }, indent=1) + "\n"


def built_scripts(repo: Path = REPO) -> dict[str, str]:
    """Every script the package carries, by file name: this version's install and upgrade scripts, and the
    released upgrade scripts."""
    version, script = build_script(repo)
    scripts = {f"pgqrs--{version}.sql": script}
    for source in sorted((repo / "extension" / "upgrade").glob(f"pgqrs--*--{version}.sql")):
        scripts[source.name] = build_upgrade(source, repo)
    for frozen in sorted((repo / "extension" / "released").glob("pgqrs--*--*.sql")):
        scripts.setdefault(frozen.name, frozen.read_text())
    return scripts


class CustomBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if (REPO / "extension" / "sql" / "fragments.txt").exists():
            PACKAGE_SQL.mkdir(parents=True, exist_ok=True)
            wanted = built_scripts()
            for stale in PACKAGE_SQL.glob("pgqrs--*.sql"):
                if stale.name not in wanted:
                    stale.unlink()
            install = next(text for name, text in wanted.items() if "--" not in name[len("pgqrs--"):])
            wanted["manifest.json"] = manifest(install)
            # The upgrade scripts too, so that `pgqrs install` can upgrade a direct install in place.
            for name, text in wanted.items():
                target = PACKAGE_SQL / name
                if not target.exists() or target.read_text() != text:
                    target.write_text(text)
        scripts = [*sorted(PACKAGE_SQL.glob("pgqrs--*.sql")), PACKAGE_SQL / "manifest.json"]
        if not all(path.exists() for path in scripts) or len(scripts) < 2:
            raise RuntimeError("extension/sql/fragments.txt not found and no built scripts in src/pgqrs/sql/")
        if self.target_name == "wheel" and version == "editable":
            return  # the editable package reads src/pgqrs/sql/ in place
        # The built files are gitignored, so hatch would leave them out: include them explicitly.
        prefix = "pgqrs/sql" if self.target_name == "wheel" else "src/pgqrs/sql"
        for script in scripts:
            build_data["force_include"][str(script)] = f"{prefix}/{script.name}"
