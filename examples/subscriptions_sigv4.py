"""The subscription API from Python with SigV4-signed requests, as AWS requires (IAM authorization).

    python examples/subscriptions_sigv4.py --state-file .sandbox/examples.json --tenant acme endpoints
    python examples/subscriptions_sigv4.py --state-file .sandbox/examples.json --tenant acme message evt_...
    # on AWS: --api-url <stack output subscriptionsApiUrl> (credentials and region: boto3's usual chain)

Every request is signed with botocore's ``SigV4Auth`` for service ``execute-api``. The caller needs
the tenant's IAM policy (docs/delivery.md: it allows ``execute-api:Invoke`` on that tenant's routes
only). The sandbox does not check signatures, so the same client works against both.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "execute-api"
TIMEOUT_SECONDS = 15


class SubscriptionApi:
    """A signed client for one tenant's routes."""

    def __init__(self, base_url: str, tenant: str, credentials: Credentials, region: str) -> None:
        self.base = f"{base_url.rstrip('/')}/tenants/{tenant}"
        self.signer = SigV4Auth(credentials, SERVICE, region)

    def signed(self, method: str, path: str, body: Any = None) -> requests.PreparedRequest:
        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(
            method=method,
            url=self.base + path,
            data=data,
            headers={"content-type": "application/json"} if data else {},
        )
        self.signer.add_auth(request)  # Authorization, X-Amz-Date (and the session token if any)
        return requests.Request(method, request.url, headers=dict(request.headers), data=data).prepare()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        with requests.Session() as session:
            answer = session.send(self.signed(method, path, body), timeout=TIMEOUT_SECONDS)
        if answer.status_code >= 400:
            raise SystemExit(f"{method} {path}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", help="a sandbox's state file")
    parser.add_argument("--api-url", help="the stack output subscriptionsApiUrl (real AWS)")
    parser.add_argument("--tenant", required=True)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("endpoints", help="list the tenant's endpoints")
    message = commands.add_parser("message", help="an event's deliveries, one per endpoint, with their history")
    message.add_argument("event_id")
    args = parser.parse_args(argv)

    if args.state_file:
        with open(args.state_file, encoding="utf-8") as file:
            state = json.load(file)
        base, region = args.api_url or state["subscriptions_api"], state["region"]
        credentials = Credentials("sandbox", "sandbox")  # any key signs; the sandbox does not check
    elif args.api_url:
        session = boto3.session.Session()
        credentials, region = session.get_credentials(), session.region_name
        if credentials is None or region is None:
            parser.error("no AWS credentials or region found (configure them as for the AWS CLI)")
        base = args.api_url
    else:
        parser.error("give --state-file (the sandbox) or --api-url (AWS)")
    api = SubscriptionApi(base, args.tenant, credentials, region)
    if args.command == "endpoints":
        result = api.call("GET", "/endpoints")
    else:
        result = api.call("GET", f"/messages/{args.event_id}")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
