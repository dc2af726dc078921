"""``python -m ops token``: mint a tenant's (or an operator's) token; ``python -m ops token-keys
rotate``: put a new token signing key in front (docs/tokens.md).

``token`` calls the stack's subscription API (``subscriptionsApiUrl`` in ``--outputs``, or
``--api-url``) with SigV4, as the SaaS backend does: ``POST /tenants/{t}/tokens`` or, with
``--operator``, ``POST /operator/tokens``. It prints the token and nothing else on stdout, so
``TOKEN=$(python -m ops token ...)`` works; errors go to stderr. Against the local sandbox's outputs
file the sandbox's credentials sign (its API does not check SigV4).
"""

from __future__ import annotations

import argparse
import json
import re
import urllib.error
import urllib.request
from typing import Any

from functions.delivery import token_keys, tokens
from ops.aws import Clients
from ops.outputs import OpsError, _read_outputs_file

API_OUTPUT, TABLE_OUTPUT = "subscriptionsApiUrl", "deliveryTableName"
_DURATION_RE = re.compile(r"^(\d{1,6})([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
HTTP_TIMEOUT_SECONDS = 30


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "token",
        parents=[common],
        allow_abbrev=False,
        help="mint a tenant-scoped token (or an operator token) through the subscription API; prints only the token",
    )
    who = cmd.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", metavar="ID", help="the tenant the token is for")
    who.add_argument("--operator", action="store_true", help="an operator token (every tenant, every scope)")
    cmd.add_argument(
        "--scopes",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        metavar="S1,S2",
        help=f"comma-separated, of: {', '.join(tokens.TENANT_SCOPES)} (required with --tenant)",
    )
    cmd.add_argument(
        "--expires",
        type=duration,
        default=tokens.DEFAULT_EXPIRES_SECONDS,
        metavar="DURATION",
        help="lifetime: seconds or 90s, 30m, 1h, 1d (60 s to 24 h; default 1h)",
    )
    cmd.add_argument(
        "--api-url", metavar="URL", help=f"the subscription API's URL (default: {API_OUTPUT} of --outputs)"
    )
    keys = commands.add_parser("token-keys", allow_abbrev=False, help="the token signing keys")
    actions = keys.add_subparsers(dest="token_keys_command", required=True, metavar="ACTION")
    cmd = actions.add_parser(
        "rotate",
        parents=[common],
        allow_abbrev=False,
        help="a new signing key; the old one stays published until the next rotation (rotate at most once a day)",
    )
    cmd.add_argument("--table-name", metavar="NAME", help=f"the delivery table (default: {TABLE_OUTPUT} of --outputs)")


def duration(text: str) -> int:
    found = _DURATION_RE.fullmatch(text.strip().lower())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 3600, 90s, 30m, 1h or 1d")
    seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    if not tokens.MIN_EXPIRES_SECONDS <= seconds <= tokens.MAX_EXPIRES_SECONDS:
        raise argparse.ArgumentTypeError(
            f"--expires must be from {tokens.MIN_EXPIRES_SECONDS} s to {tokens.MAX_EXPIRES_SECONDS} s (24h), got {text!r}"
        )
    return seconds


def run(args: argparse.Namespace, clients: Clients) -> int:
    if args.command == "token-keys":
        table = args.table_name or _output(args.outputs, TABLE_OUTPUT, "--table-name")
        ring = token_keys.rotate(clients._client("secretsmanager"), table)
        print(json.dumps({"currentKid": ring.current[1], "publishedKids": [k["kid"] for k in ring.jwks()["keys"]]}))
        return 0
    if args.operator:
        if args.scopes:
            raise OpsError("--scopes is for tenant tokens; an operator token has the operator scope")
        path, body = "/operator/tokens", {"expiresInSeconds": args.expires}
    else:
        if not args.scopes:
            raise OpsError(
                f"--scopes is required with --tenant (comma-separated, of: {', '.join(tokens.TENANT_SCOPES)})"
            )
        try:
            tokens.check_scopes(args.scopes)
        except tokens.TokenRequestError as error:
            raise OpsError(f"--scopes: {error}") from None
        path, body = f"/tenants/{args.tenant}/tokens", {"scopes": args.scopes, "expiresInSeconds": args.expires}
    api_url = (args.api_url or _output(args.outputs, API_OUTPUT, "--api-url")).rstrip("/")
    answer = _signed_post(clients, f"{api_url}{path}", body)
    print(answer["token"])
    return 0


def _output(path: str | None, key: str, flag: str) -> str:
    value = _read_outputs_file(path).get(key) if path else None
    if not isinstance(value, str) or not value:
        raise OpsError(f"pass {flag}, or --outputs with {key} (signed delivery enabled)")
    return value


def _signed_post(clients: Clients, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` with SigV4 (service ``execute-api``) and return the JSON answer (201)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = clients._boto_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise OpsError("no AWS credentials found to sign the request (environment, profile or instance role)")
    region = clients.resolved_region() or _region_of(url)
    if not region:
        raise OpsError("no AWS region: pass --region or set AWS_REGION")
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    prepared = urllib.request.Request(url, data=data, headers=dict(request.headers.items()), method="POST")  # noqa: S310 (the stack's URL)
    try:
        with urllib.request.urlopen(prepared, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        detail = error.read()[:500].decode("utf-8", "replace")
        raise OpsError(f"the subscription API answered {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError) as error:
        raise OpsError(f"cannot reach the subscription API at {url}: {error}") from None


def _region_of(url: str) -> str | None:
    found = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", url)
    return found.group(1) if found else None
