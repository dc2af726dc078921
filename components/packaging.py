"""One deterministic deployment archive of ``functions/`` for every Lambda function.

The archive holds the ``functions`` package at its root (so a handler is ``functions.relay.handler``)
and nothing else: boto3 comes with the Lambda runtime and the code uses only the standard library
besides. Entries are sorted, timestamps and permissions fixed, caches left out, so the same source
always gives the same bytes and an unchanged package shows no diff in ``pulumi preview``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
BUILD_DIR = ROOT / "build"
# ZIP cannot store dates before 1980; any fixed date makes the archive reproducible.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"


@dataclass(frozen=True)
class Package:
    path: Path
    sha256_base64: str
    """What ``aws.lambda_.Function.source_code_hash`` expects."""
    files: tuple[str, ...]


def package_files(source: Path = FUNCTIONS_DIR) -> list[Path]:
    files = []
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if any(part in EXCLUDED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and not path.name.endswith(EXCLUDED_SUFFIXES):
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(source).as_posix())


def archive_bytes(source: Path = FUNCTIONS_DIR) -> tuple[bytes, tuple[str, ...]]:
    buffer = io.BytesIO()
    names = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in package_files(source):
            name = f"{source.name}/{path.relative_to(source).as_posix()}"
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.external_attr = 0o100644 << 16  # -rw-r--r--, whatever the checkout's umask
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the permissions above are honoured
            archive.writestr(info, path.read_bytes())
            names.append(name)
    return buffer.getvalue(), tuple(names)


def build_package(source: Path = FUNCTIONS_DIR, build_dir: Path = BUILD_DIR) -> Package:
    """Write the archive (named by its content hash, so concurrent builds never clash)."""
    data, names = archive_bytes(source)
    digest = hashlib.sha256(data)
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / f"functions-{digest.hexdigest()[:16]}.zip"
    if not path.exists():
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return Package(path=path, sha256_base64=base64.b64encode(digest.digest()).decode(), files=names)
