"""A PEP 517 build backend (standard library only) for the ``hookstack-events`` wheel.

The wheel is ``functions/events.py`` and what it imports from ``functions`` (``logs.py``, ``records.py``), copied byte
for byte from this repository's ``functions/`` (one owner: the Lambda package), under an
``__init__.py`` of its own, so an application imports exactly what the Lambda code uses:
``from functions.events import make_event, publish``. A module that starts importing anything else
from ``functions`` fails the build, naming it, rather than ship a wheel that breaks on import.
The archive is deterministic (sorted entries, fixed timestamps): the same sources give the same bytes.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE.parent / "functions"
MODULES = ("events.py", "logs.py", "records.py")  # the publisher and everything it imports from functions/
PACKAGE_INIT = b'"""hookstack\'s event contract and publisher (the hookstack-events distribution)."""\n'
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _project() -> dict[str, object]:
    with (HERE / "pyproject.toml").open("rb") as file:
        return dict(tomllib.load(file)["project"])


def _check_imports(name: str, source: bytes) -> None:
    shipped = {module.removesuffix(".py") for module in MODULES}
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.ImportFrom) and node.level:  # relative: from . import x
            imported = [f"functions.{node.module or alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "functions":
            imported = [f"functions.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported = [node.module or ""]
        elif isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        else:
            continue
        missing = [i for i in imported if i.startswith("functions.") and i.split(".")[1] not in shipped]
        if missing:
            raise RuntimeError(
                f"functions/{name} imports {missing}, which hookstack-events does not ship; "
                f"add them to MODULES in {Path(__file__).name} or remove the import"
            )


def _files() -> dict[str, bytes]:
    files = {"functions/__init__.py": PACKAGE_INIT}
    for name in MODULES:
        source = (SOURCES / name).read_bytes()
        _check_imports(name, source)
        files[f"functions/{name}"] = source
    return files


def _dist_info(project: dict[str, object]) -> tuple[str, dict[str, bytes]]:
    name, version = str(project["name"]), str(project["version"])
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        f"License: {project['license']}",
        *(f"Requires-Dist: {requirement}" for requirement in _listed(project.get("dependencies"))),
        *_extras(project.get("optional-dependencies")),
    ]
    wheel = ["Wheel-Version: 1.0", "Generator: hookstack build_backend", "Root-Is-Purelib: true", "Tag: py3-none-any"]
    return dist_info, {
        f"{dist_info}/METADATA": ("\n".join(metadata) + "\n").encode(),
        f"{dist_info}/WHEEL": ("\n".join(wheel) + "\n").encode(),
        f"{dist_info}/top_level.txt": b"functions\n",
    }


def _extras(value: object) -> list[str]:
    """``Provides-Extra`` and its ``Requires-Dist ...; extra == "<name>"`` lines (core metadata 2.1)."""
    lines: list[str] = []
    for extra, requirements in (value if isinstance(value, dict) else {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {requirement}; extra == "{extra}"' for requirement in _listed(requirements)]
    return lines


def _listed(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    wheel_directory: str, config_settings: dict[str, object] | None = None, metadata_directory: str | None = None
) -> str:
    project = _project()
    dist_info, metadata = _dist_info(project)
    files = {**_files(), **metadata}
    record = "\n".join([*(_record_line(p, d) for p, d in sorted(files.items())), f"{dist_info}/RECORD,,"]) + "\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    basename = f"{dist_info.removesuffix('.dist-info')}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / basename, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(files.items(), key=lambda item: item[0].endswith("RECORD")):
            info = zipfile.ZipInfo(path, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return basename


def get_requires_for_build_wheel(config_settings: dict[str, object] | None = None) -> list[str]:
    return []
