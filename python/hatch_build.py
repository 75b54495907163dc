"""Build hook: put the extension's install and upgrade scripts into the package.

The script is built exactly as the Makefile builds it (the fragments listed in
extension/sql/fragments.txt, concatenated, with @PGQRS_VERSION@ replaced by
default_version from pgqrs.control), so a direct install runs the same SQL as
CREATE EXTENSION and there is never a second, hand-kept copy.
"""

from __future__ import annotations

import re
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE_SQL = HERE / "src" / "pgqrs" / "sql"


def control_version(control: Path) -> str:
    match = re.search(r"^default_version\s*=\s*'([^']+)'", control.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"no default_version in {control}")
    return match.group(1)


def build_script(repo: Path = REPO) -> tuple[str, str]:
    """(version, script text) from the fragments, in the order of fragments.txt."""
    version = control_version(repo / "pgqrs.control")
    sql_dir = repo / "extension" / "sql"
    names = [
        line.strip()
        for line in (sql_dir / "fragments.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    text = "".join((sql_dir / name).read_text() for name in names)
    return version, text.replace("@PGQRS_VERSION@", version)


class CustomBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if (REPO / "extension" / "sql" / "fragments.txt").exists():
            ext_version, script = build_script()
            PACKAGE_SQL.mkdir(parents=True, exist_ok=True)
            upgrades = sorted((REPO / "extension").glob("pgqrs--*--*.sql"))
            keep = {f"pgqrs--{ext_version}.sql", *(path.name for path in upgrades)}
            for stale in PACKAGE_SQL.glob("pgqrs--*.sql"):
                if stale.name not in keep:
                    stale.unlink()
            target = PACKAGE_SQL / f"pgqrs--{ext_version}.sql"
            if not target.exists() or target.read_text() != script:
                target.write_text(script)
            # The upgrade scripts, so that `pgqrs install` can upgrade a direct install in place.
            for upgrade in upgrades:
                copy = PACKAGE_SQL / upgrade.name
                if not copy.exists() or copy.read_text() != upgrade.read_text():
                    copy.write_text(upgrade.read_text())
        scripts = sorted(PACKAGE_SQL.glob("pgqrs--*.sql"))
        if not scripts:
            raise RuntimeError("extension/sql/fragments.txt not found and no built script in src/pgqrs/sql/")
        if self.target_name == "wheel" and version == "editable":
            return  # the editable package reads src/pgqrs/sql/ in place
        # The built script is gitignored, so hatch would leave it out: include it explicitly.
        prefix = "pgqrs/sql" if self.target_name == "wheel" else "src/pgqrs/sql"
        for script in scripts:
            build_data["force_include"][str(script)] = f"{prefix}/{script.name}"
