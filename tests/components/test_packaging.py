"""The Lambda archive: deterministic, only the functions package, handlers that exist."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from components.packaging import ARCHITECTURE, FUNCTIONS_DIR, RUNTIME, archive_bytes, build_package
from tests.harness import Program

ROOT = Path(__file__).resolve().parents[2]


def test_two_builds_give_identical_bytes(tmp_path: Path) -> None:
    first = build_package(build_dir=tmp_path / "a")
    second = build_package(build_dir=tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_base64 == second.sha256_base64


def test_caches_and_bytecode_are_left_out(tmp_path: Path) -> None:
    source = tmp_path / "functions"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def handler(e, c): return 1\n")
    (source / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\0")
    (source / "stray.pyc").write_bytes(b"\0")
    data, names = archive_bytes(source)
    assert names == ("functions/__init__.py", "functions/handler.py")
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        infos = archive.infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_archive_changes_only_when_the_code_does(tmp_path: Path) -> None:
    source = tmp_path / "functions"
    source.mkdir()
    (source / "__init__.py").write_text("")
    before, _ = archive_bytes(source)
    (source / "__init__.py").touch()  # a new mtime alone changes nothing
    assert archive_bytes(source)[0] == before
    (source / "__init__.py").write_text("# changed\n")
    assert archive_bytes(source)[0] != before


def test_functions_never_import_pulumi() -> None:
    for path in FUNCTIONS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "pulumi" or n.startswith(("pulumi.", "pulumi_")) for n in names), path


def test_functions_import_with_only_the_standard_library_and_boto3() -> None:
    """Import every module with third-party packages other than boto3/botocore hidden, as in Lambda."""
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in FUNCTIONS_DIR.rglob("*.py")
    )
    script = f"""
import importlib, sys
allowed = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in ("pulumi", "pulumi_aws", "psycopg", "moto", "requests", "yaml", "pulumi_random"):
            raise ImportError("not in the Lambda runtime: " + name)
        return None
sys.meta_path.insert(0, Block())
for module in {modules!r}:
    importlib.import_module(module)
print("ok", len({modules!r}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_lambda_uses_the_shared_archive_python312_on_arm64(
    program: Callable[..., Program], dev_stack: tuple[dict, list]
) -> None:
    config, secret_keys = dev_stack
    declared = program(config, secret_keys=secret_keys)
    functions = declared.of_type("aws:lambda/function:Function")
    assert len(functions) >= 7  # consumer 2, signed delivery 3, aurora 3 (relay, sweeper, migrate)
    package = build_package()
    for function in functions:
        assert function["runtime"] == RUNTIME
        assert function["architectures"] == [ARCHITECTURE]
        assert function["sourceCodeHash"] == package.sha256_base64
        module_name, _, attribute = function["handler"].rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute)), function["handler"]
        path = module_name.replace(".", "/")
        assert f"{path}.py" in package.files or f"{path}/__init__.py" in package.files


@pytest.mark.parametrize("runtime", [RUNTIME])
def test_runtime_is_a_supported_python(runtime: str) -> None:
    major, minor = runtime.removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 12)
