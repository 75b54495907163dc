"""The version of pgqrs: `default_version` in pgqrs.control, the one place it lives.

    python3 tools/version.py              prints it
    python3 tools/version.py set X.Y.Z    writes it into pgqrs.control and META.json

Everything else that needs the version reads it here (tools/dist.py, the Python
package build, `make checkver`, `make bump-version`); the Makefile's one `sed`
reads the same line, so that building the extension needs no Python.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_CONTROL_LINE = re.compile(r"^default_version\s*=\s*'([^']+)'$", re.MULTILINE)


def read(repo: Path = REPO) -> str:
    """default_version of repo/pgqrs.control."""
    match = _CONTROL_LINE.search((repo / "pgqrs.control").read_text())
    if not match:
        raise RuntimeError(f"no default_version in {repo / 'pgqrs.control'}")
    return match.group(1)


def meta_disagreements(meta: dict, version: str) -> list[str]:
    """Where META.json names a version other than the control file's."""
    found = {"version": meta.get("version"), "provides.pgqrs.version": meta.get("provides", {}).get("pgqrs", {}).get("version")}
    return [f"META.json {key} is {value}, pgqrs.control says {version}" for key, value in found.items() if value != version]


def write(version: str, repo: Path = REPO) -> None:
    """The version into pgqrs.control and META.json (its version and provides.pgqrs.version)."""
    control = repo / "pgqrs.control"
    control.write_text(_CONTROL_LINE.sub(f"default_version = '{version}'", control.read_text(), count=1))
    meta_path = repo / "META.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = meta["provides"]["pgqrs"]["version"] = version
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    if sys.argv[1:2] == ["set"] and len(sys.argv) == 3:
        write(sys.argv[2])
    elif len(sys.argv) == 1:
        print(read())
    else:
        raise SystemExit("usage: tools/version.py [set X.Y.Z]")


if __name__ == "__main__":
    main()
