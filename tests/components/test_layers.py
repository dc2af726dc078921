"""The crypto layer: deterministic, for arm64 CPython 3.12, pinned to what the tests run with."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from components import layers

ROOT = Path(__file__).resolve().parents[2]
EM_AARCH64 = 183  # ELF e_machine of arm64


@pytest.fixture(scope="module")
def crypto_layer(tmp_path_factory: pytest.TempPathFactory) -> layers.Package:
    return layers.build_crypto_layer(tmp_path_factory.mktemp("layers"))


def test_the_layer_pins_what_the_tests_run_with() -> None:
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split())
    for requirement in layers.CRYPTO_REQUIREMENTS:
        name, version = requirement.split("==")
        assert pins[name] == version, f"{name}: layer {version}, tests {pins[name]} (update both together)"


def test_the_layer_holds_cryptography_for_arm64_under_python(crypto_layer: layers.Package) -> None:
    assert all(name.startswith("python/") for name in crypto_layer.files)
    assert "python/cryptography/hazmat/primitives/asymmetric/ed25519.py" in crypto_layer.files
    rust = [
        n for n in crypto_layer.files if n.startswith("python/cryptography/hazmat/bindings/_rust") and n.endswith(".so")
    ]
    assert rust, "the compiled bindings are missing"
    with zipfile.ZipFile(crypto_layer.path) as archive:
        header = archive.read(rust[0])[:20]
        mode = archive.getinfo(rust[0]).external_attr >> 16
    assert header[:4] == b"\x7fELF"
    assert struct.unpack_from("<H", header, 18)[0] == EM_AARCH64  # built for Lambda's arm64, not this machine
    assert mode & 0o111  # shared objects keep their executable bit
    assert not any(n.endswith((".pyc", "/RECORD")) or "__pycache__" in n for n in crypto_layer.files)


def test_the_same_pins_give_the_same_bytes(crypto_layer: layers.Package, tmp_path: Path) -> None:
    again = layers.build_crypto_layer(tmp_path)
    assert again.path.read_bytes() == crypto_layer.path.read_bytes()
    assert again.sha256_base64 == crypto_layer.sha256_base64
    with zipfile.ZipFile(again.path) as archive:
        assert {info.date_time for info in archive.infolist()} == {layers.FIXED_DATE_TIME}
        assert [info.filename for info in archive.infolist()] == sorted(again.files)
