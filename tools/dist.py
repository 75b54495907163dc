#!/usr/bin/env python3
"""The PGXN distribution: `make dist` writes pgqrs-<version>.zip.

It holds the extension and nothing else: the control file, META.json, the
Makefile, the SQL sources, the released and upgrade scripts, the SQL tests and
the docs. META.json is checked against the PGXN Meta Spec 1.0.0
(https://pgxn.org/spec/) first; `tools/dist.py --check` only checks it.
Standard library only, so it runs with the system's python3.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _load_version_module():  # tools/version.py, whoever imports this file and from where
    import importlib.util

    spec = importlib.util.spec_from_file_location("pgqrs_tools_version", Path(__file__).with_name("version.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


versions = _load_version_module()

# What goes in, as globs relative to the repository. The built install script
# and test results are not sources: make builds them from these.
CONTENTS = [
    "pgqrs.control",
    "META.json",
    "Makefile",
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "extension/sql/fragments.txt",
    "extension/sql/*.sql",
    "extension/sql/functions/*.sql",
    "extension/released/pgqrs--*.sql",
    "extension/upgrade/pgqrs--*--*.sql",
    "extension/test/sql/*.sql",
    "extension/test/expected/*.out",
    "extension/test/specs/*.spec",
]

LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2", "gfdl_1_3",
    "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
    "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown",
}
KEYS = {
    "name", "abstract", "description", "version", "maintainer", "license", "provides", "meta-spec",
    "generated_by", "tags", "no_index", "prereqs", "release_status", "resources",
}
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-?[0-9A-Za-z][0-9A-Za-z.-]*)?")
VERSION_RANGE = re.compile(rf"(?:(?:==|!=|>=|<=|>|<)\s*)?{SEMVER.pattern}")


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def check_meta(meta: dict, root: Path | None = None) -> list[str]:
    """What in META.json breaks the PGXN Meta Spec 1.0.0 (and, with root, names a file that is not there or
    a version other than root's pgqrs.control)."""
    problems = [] if root is None else versions.meta_disagreements(meta, versions.read(root))
    for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
        if key not in meta:
            problems.append(f"{key} is required")
    for key in meta:
        if key not in KEYS and not key.lower().startswith("x_"):
            problems.append(f"{key} is not a key of the spec (custom keys start with x_)")
    name = meta.get("name", "")
    if not isinstance(name, str) or len(name) < 2 or re.search(r"[/\\\s\x00-\x1f]", name):
        problems.append("name must have two or more characters and no slash, backslash, space or control character")
    for key in ("abstract", "description", "generated_by"):
        if key in meta and not (isinstance(meta[key], str) and meta[key]):
            problems.append(f"{key} must be a non-empty string")
    if not SEMVER.fullmatch(str(meta.get("version", ""))):
        problems.append(f"version {meta.get('version')!r} is not a semantic version")
    maintainer = meta.get("maintainer")
    if not (isinstance(maintainer, str) and maintainer) and not _strings(maintainer):
        problems.append("maintainer must be a string or a list of strings")
    license_ = meta.get("license")
    if isinstance(license_, str):
        license_ = [license_]
    if isinstance(license_, list):
        problems += [f"license {item!r} is not one of the spec's" for item in license_ if item not in LICENSES]
    elif not (isinstance(license_, dict) and license_):
        problems.append("license must be a string, a list or an object")
    spec = meta.get("meta-spec")
    if not (isinstance(spec, dict) and spec.get("version") == "1.0.0"):
        problems.append('meta-spec must be {"version": "1.0.0", ...}')
    provides = meta.get("provides")
    if not (isinstance(provides, dict) and provides):
        problems.append("provides must name at least one extension")
    else:
        for extension, about in provides.items():
            if not isinstance(about, dict) or "file" not in about or "version" not in about:
                problems.append(f"provides.{extension} needs file and version")
                continue
            if not SEMVER.fullmatch(str(about["version"])):
                problems.append(f"provides.{extension}.version is not a semantic version")
            for key in ("file", "docfile"):
                if root is not None and key in about and not (root / about[key]).is_file():
                    problems.append(f"provides.{extension}.{key} {about[key]} is not in the distribution")
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        problems.append("release_status must be stable, testing or unstable")
    if "tags" in meta and not _strings(meta["tags"]):
        problems.append("tags must be a list of strings")
    for phase, relations in meta.get("prereqs", {}).items():
        if phase not in ("configure", "build", "test", "runtime", "develop"):
            problems.append(f"prereqs.{phase} is not a phase of the spec")
            continue
        for relation, needs in relations.items():
            if relation not in ("requires", "recommends", "suggests", "conflicts"):
                problems.append(f"prereqs.{phase}.{relation} is not a relation of the spec")
                continue
            for prereq, version in needs.items():
                if version != 0 and not all(VERSION_RANGE.fullmatch(v.strip()) for v in str(version).split(",")):
                    problems.append(f"prereqs.{phase}.{relation}.{prereq}: {version!r} is not a version or range")
    return problems


def files() -> list[Path]:
    return sorted({path for pattern in CONTENTS for path in REPO.glob(pattern)})


def build(out_dir: Path) -> Path:
    meta = json.loads((REPO / "META.json").read_text())
    problems = check_meta(meta, REPO)
    if problems:
        raise SystemExit("META.json: " + "; ".join(problems))
    prefix = f"{meta['name']}-{meta['version']}"
    target = out_dir / f"{prefix}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files():
            archive.write(path, f"{prefix}/{path.relative_to(REPO)}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check META.json")
    parser.add_argument("--out", type=Path, default=REPO, help="directory for the zip (default: the repository)")
    args = parser.parse_args()
    if args.check:
        problems = check_meta(json.loads((REPO / "META.json").read_text()), REPO)
        print("\n".join(problems) or "META.json is valid for PGXN")
        sys.exit(1 if problems else 0)
    print(build(args.out))


if __name__ == "__main__":
    main()
