"""Lambda layers built deterministically from wheels, for what the Lambda runtime lacks.

The Python 3.12 runtime ships boto3 and nothing else; ed25519 and ECDSA (outgoing ``v1a``
signatures, SendGrid's and Discord-style inbound signatures) need ``cryptography``. Its wheels are
downloaded for the functions' platform (arm64, manylinux, CPython 3.12), unpacked under ``python/``
(where Lambda puts a layer on ``sys.path``) and zipped with sorted entries and fixed timestamps and
permissions, so the same pins always give the same bytes and an unchanged layer shows no diff.

Only functions that need it get the layer: every other function's cold start stays the import of
boto3 and our own code (``docs/benchmarks/cold-start.md``).

The versions are pinned here and must equal the ones the tests run with (``constraints.txt``;
``tests/components/test_layers.py`` holds them together), so what the tests prove is what ships.
The download needs a package index at deploy time, as ``pip install -r requirements.txt`` does; the
result is cached in ``build/`` by its content.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from components.packaging import ARCHITECTURE, BUILD_DIR, FIXED_DATE_TIME, RUNTIME, Package

CRYPTO_REQUIREMENTS = ("cryptography==50.0.2", "cffi==2.1.1", "pycparser==3.12")
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels and older.
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
PYTHON_VERSION = RUNTIME.removeprefix("python")
LAYER_PREFIX = "python/"  # Lambda adds /opt/python to sys.path
# Nothing a running function reads: installers' bookkeeping and caches.
EXCLUDED_PARTS = ("__pycache__",)
EXCLUDED_SUFFIXES = (".pyc", "/RECORD", "/INSTALLER", "/REQUESTED", "/direct_url.json")

assert ARCHITECTURE == "arm64", "the wheel platforms above are arm64's"


def download_wheels(requirements: tuple[str, ...], destination: Path) -> list[Path]:
    """The wheels of ``requirements`` (and nothing else: every dependency is pinned in the list)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    for platform in WHEEL_PLATFORMS:
        command += ["--platform", platform]
    command += ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--dest", str(destination)]
    result = subprocess.run([*command, *requirements], capture_output=True, text=True, check=False)  # noqa: S603 (our pins)
    if result.returncode != 0:
        raise RuntimeError(
            f"could not download the layer's wheels ({', '.join(requirements)}):\n{result.stderr[-2000:]}"
        )
    wheels = sorted(destination.glob("*.whl"))
    if len(wheels) != len(requirements):
        raise RuntimeError(f"expected {len(requirements)} wheels for {requirements}, got {[w.name for w in wheels]}")
    return wheels


def layer_bytes(wheels: list[Path]) -> tuple[bytes, tuple[str, ...]]:
    """The wheels' files under ``python/``, sorted, with fixed timestamps and permissions."""
    entries: dict[str, tuple[bytes, int]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                name = info.filename
                if (
                    info.is_dir()
                    or any(p in name.split("/") for p in EXCLUDED_PARTS)
                    or name.endswith(EXCLUDED_SUFFIXES)
                ):
                    continue
                # Keep a file's executable bit (shared objects), drop everything else of its mode.
                mode = 0o755 if (info.external_attr >> 16) & 0o111 or name.endswith(".so") else 0o644
                entries[LAYER_PREFIX + name] = (archive.read(info), mode)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(entries):
            data, mode = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, data)
    return buffer.getvalue(), tuple(sorted(entries))


def build_layer(name: str, requirements: tuple[str, ...], build_dir: Path = BUILD_DIR) -> Package:
    """The layer archive for ``requirements`` (cached in ``build_dir`` by the pins it holds)."""
    key = hashlib.sha256("\n".join((name, PYTHON_VERSION, *WHEEL_PLATFORMS, *requirements)).encode()).hexdigest()[:16]
    build_dir.mkdir(parents=True, exist_ok=True)
    cached = build_dir / f"layer-{name}-{key}.zip"
    if not cached.exists():
        with tempfile.TemporaryDirectory(dir=build_dir) as scratch:
            data, _ = layer_bytes(download_wheels(requirements, Path(scratch)))
            temporary = cached.with_suffix(f".{Path(scratch).name}.tmp")
            temporary.write_bytes(data)
            temporary.replace(cached)  # atomic: concurrent builds of the same pins write the same bytes
    data = cached.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = tuple(archive.namelist())
    return Package(path=cached, sha256_base64=base64.b64encode(hashlib.sha256(data).digest()).decode(), files=files)


def build_crypto_layer(build_dir: Path = BUILD_DIR) -> Package:
    """``cryptography`` (ed25519, ECDSA) for the functions that verify or sign with them."""
    return build_layer("crypto", CRYPTO_REQUIREMENTS, build_dir)
