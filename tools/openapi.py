"""Write the subscription API's OpenAPI document to ``docs/openapi.json``.

    python -m tools.openapi            # (re)write docs/openapi.json
    python -m tools.openapi --check    # exit 1 when docs/openapi.json is not current

The document is :func:`functions.delivery.openapi.document` (generated from the route table; the API
serves the same at ``GET /openapi.json``); tests/functions/delivery/test_openapi.py fails when the
committed file differs from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from functions.delivery.openapi import document

TARGET = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.openapi", description="Write docs/openapi.json from the route table."
    )
    parser.add_argument("--check", action="store_true", help="fail when docs/openapi.json is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is not current: run python -m tools.openapi", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
