"""IAM in the sandbox: each function runs as its own role, and moto's IAM evaluator judges its calls.

Every role the components declare for code the sandbox runs gets a role in moto holding the same
inline policy, built by the same spec method from moto's ARNs instead of Pulumi Outputs
(``components/specs/*.py``; a function's document starts with the statement on its own log group,
:func:`components.policy_documents.function_role_statements`, exactly as ``LambdaFunction`` writes
it). The sandbox assumes each role through STS, as Lambda and Pipes do, and hands the credentials to
the code that would use them in AWS: the handler's clients (through the runtime idiom: the handler's
``ProcessState`` gets a runtime built on the role's session, as the tests inject theirs), and the
service emulation acting with that role (an event source mapping polls with the function's role,
the Pipe reads its queue and puts events with its own).

moto evaluates calls only once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have passed, for every
caller of the process. Here the evaluation is switched on per credential instead
(:func:`install_access_control`): calls signed with an access key the sandbox issued to a role are
evaluated by moto's own evaluator (``moto.iam.access_control``: signature, then the role's inline
and attached policies, an explicit Deny winning); every other caller (you, ``python -m ops``, the
sandbox's own emulation, tests with any credentials) passes unevaluated as in moto's default mode.

What moto's evaluator does not cover, and what this module adds (``docs/sandbox.md`` lists it):

- moto knows the resource of SQS and S3 requests only; for the rest it evaluates against ``*``,
  which a statement scoped to an ARN never matches. Here DynamoDB requests are evaluated against
  their tables (and ``/index/<name>`` for queries on an index), EventBridge ``PutEvents`` against
  each entry's bus, Secrets Manager against the secret's ARN; a request naming several resources
  is evaluated once per resource.
- Some calls are authorized as other actions, as IAM does: SQS batch calls as their single action
  (``SendMessageBatch`` needs ``sqs:SendMessage``), a DynamoDB transaction item by item
  (``Put`` needs ``dynamodb:PutItem`` on its table); moto would look for the call's own name.
- Not covered (the static checks of ``tests/components/test_role_policies.py`` hold these):
  resource-based policies (queue and topic policies, Lambda permissions, the bucket policy),
  ``Condition`` blocks of identity policies, trust policies, service principals' own calls
  (EventBridge invoking API destinations, Scheduler, Aurora invoking the relay), S3 answering 403
  instead of 404 to a role without ``s3:ListBucket``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.policy_documents import POLICY_VERSION, function_role_statements, policy_document
from sandbox.aws import ACCOUNT, REGION, SANDBOX_USER_AGENT, client

LAMBDA_SERVICE = "lambda.amazonaws.com"
PIPES_SERVICE = "pipes.amazonaws.com"
ROLE_PATH = "/hookstack-sandbox/"
POLICY_NAME = "hookstack"  # the inline policy's name (the component's RolePolicy has one per role)
# IAM authorizes SQS's batch calls as the single action (the Service Authorization Reference lists
# no batch actions); moto would look the batch action up.
SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

# Access keys whose calls moto evaluates (the ones a LocalIam issued to a role and has not forgotten),
# with that LocalIam, which records what its roles were refused.
_enforced: dict[str, LocalIam] = {}
_enforced_lock = threading.Lock()
log = logging.getLogger("sandbox.iam")
REFUSALS_KEPT = 100
_installed: list[Any] = []  # the original moto method, once patched


def log_streams_arn(function_name: str) -> str:
    """The ARN a function's ``WriteOwnLogs`` statement names locally (no logs are written to moto)."""
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/hookstack/{function_name}:*"


def pipe_log_streams_arn(pipe_name: str) -> str:
    """The ARN the Pipe's ``WritePipeLogs`` statement names locally."""
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/pipes/hookstack/{pipe_name}:*"


def function_arn(function_name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"


class Role:
    """A role in moto with the credentials of one session assumed from it."""

    def __init__(self, name: str, arn: str, document: str, credentials: Mapping[str, str]) -> None:
        import boto3

        self.name = name
        self.arn = arn
        self.document = document
        """The inline policy moto holds for it: the text the component's ``RolePolicy`` sends."""
        self.access_key_id = credentials["AccessKeyId"]
        self.session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        """For the function's own clients (``Clients(config, session)``; they honour ``AWS_ENDPOINT_URL``)."""

    def emulator_client(self, service: str) -> Any:
        """A client for the sandbox's emulation of an AWS service acting with this role (an event
        source mapping, the Pipe): tagged as the sandbox's own calls, like :func:`sandbox.aws.client`."""
        from botocore.config import Config

        return self.session.client(service, config=Config(user_agent_extra=SANDBOX_USER_AGENT))


@dataclass(frozen=True)
class Refusal:
    role: str
    action: str
    resource: str


class LocalIam:
    """Creates the roles in moto, assumes them and has moto evaluate what their credentials do."""

    def __init__(self, endpoint: str) -> None:
        install_access_control()
        self.endpoint = endpoint
        self.iam = client("iam", endpoint)
        self.sts = client("sts", endpoint)
        self.roles: dict[str, Role] = {}
        self.refusals: deque[Refusal] = deque(maxlen=REFUSALS_KEPT)
        """The latest calls IAM refused to a role, oldest first."""

    def function_role(self, function_name: str, statements: Sequence[Mapping[str, Any]]) -> Role:
        """The role of a function: its log statement, then ``statements`` (from its spec)."""
        document = policy_document(function_role_statements(log_streams_arn(function_name), statements))
        return self.role(f"{function_name}-role", document, service=LAMBDA_SERVICE)

    def role(self, name: str, document: str, *, service: str) -> Role:
        """Role ``name`` trusted by ``service`` with ``document`` as its inline policy, assumed once."""
        if name in self.roles:
            raise ValueError(f"role {name!r} is already defined in this sandbox")
        trust = json.dumps(
            {
                "Version": POLICY_VERSION,
                "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
            }
        )
        arn = self.iam.create_role(RoleName=name, Path=ROLE_PATH, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        self.iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=document)
        credentials = self.sts.assume_role(RoleArn=arn, RoleSessionName=name[:64])["Credentials"]
        role = Role(name, arn, document, credentials)
        with _enforced_lock:
            _enforced[role.access_key_id] = self
        self.roles[name] = role
        return role

    def close(self) -> None:
        """Forget the credentials (the moto server they belong to is going away)."""
        with _enforced_lock:
            for role in self.roles.values():
                _enforced.pop(role.access_key_id, None)

    def refused(self, access_key_id: str, action: str, resource: str) -> None:
        """Record (and log) a call IAM refused, naming what the role would need."""
        role = next((r.name for r in self.roles.values() if r.access_key_id == access_key_id), access_key_id)
        self.refusals.append(Refusal(role, action, resource))
        log.warning("IAM: role %s may not %s on %s (AccessDenied)", role, action, resource)

    def state(self) -> dict[str, Any]:
        return {"iam_roles": {name: role.arn for name, role in sorted(self.roles.items())}}


# -- moto: evaluate the calls of the roles' credentials -------------------------------------------


def install_access_control() -> None:
    """Have moto evaluate every call signed with a key :class:`LocalIam` issued (idempotent)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    if _installed:
        return
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    _installed.append(original)

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        key = _access_key_id(self.headers)
        owner = _enforced.get(key)
        if owner is None:
            original(self, iam_request_cls, resource)  # moto's own mode (counts, or evaluates if so configured)
            return
        _evaluate(self, iam_request_cls, resource, lambda action, arn: owner.refused(key, action, arn))

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]


def _evaluate(handler: Any, iam_request_cls: type, resource: str, refused: Callable[[str, str], None]) -> None:
    """What moto does once its no-auth allowance is spent, with the action and resources IAM uses."""
    from urllib.parse import urlparse

    from moto.core.exceptions import JsonRESTError, _RESTError

    service = _credential_scope(handler.headers)[3]
    action = handler._get_action()
    if service == "sqs":
        action = SQS_BATCH_ACTIONS.get(action, action)
    path = handler.raw_path
    query = urlparse(handler.uri).query
    if query:
        path += "?" + query
    try:
        for authorized_action, arn in _authorizations(handler, service, action) or [(action, resource)]:
            request = iam_request_cls(
                account_id=handler.current_account,
                method=handler.method,
                path=path,
                data=handler.data,
                body=handler.raw_body,
                headers=handler.headers,
                action=authorized_action,
            )
            request.check_signature()
            try:
                request.check_action_permitted(arn)
            except _RESTError:
                refused(f"{service}:{authorized_action}", arn)
                raise
    except _RESTError as error:
        if "json" not in (handler.headers.get("Content-Type") or ""):
            raise
        # moto renders these errors in the query protocol's XML, which a JSON service's client cannot
        # read; AWS answers in the service's protocol (``AccessDeniedException`` for an IAM refusal).
        error_type = "AccessDeniedException" if error.error_type == "AccessDenied" else error.error_type
        refusal = JsonRESTError(error_type, error.message)
        refusal.code = error.code
        raise refusal from None


def _credential_scope(headers: Mapping[str, str]) -> list[str]:
    """``[key, date, region, service, "aws4_request"]`` of a SigV4 ``Authorization`` header."""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    return scope if len(scope) == 5 else ["", "", "", "", ""]


def _access_key_id(headers: Mapping[str, str]) -> str:
    return _credential_scope(headers)[0]


def _authorizations(handler: Any, service: str, action: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs IAM authorizes a request as, for the services moto
    evaluates against ``*``; empty: moto's own (the action on the resource moto determined)."""
    if service not in {"dynamodb", "events", "secretsmanager"}:
        return []
    try:
        body = json.loads(handler.raw_body or b"{}")
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    region, account = handler.region, handler.current_account
    if service == "dynamodb":
        return _dynamodb_authorizations(action, body, f"arn:aws:dynamodb:{region}:{account}:table/")
    if service == "events":
        if action != "PutEvents":
            return []
        names = [
            entry.get("EventBusName") or "default" for entry in body.get("Entries") or [] if isinstance(entry, dict)
        ]
        return [
            (action, name if name.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{name}")
            for name in dict.fromkeys(names)
        ]
    # CreateSecret names its secret with Name (AWS authorizes it on the ARN the name will have).
    secret_id = body.get("Name") if action == "CreateSecret" else body.get("SecretId")
    if not isinstance(secret_id, str):
        return []
    if secret_id.startswith("arn:"):
        return [(action, secret_id)]
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    # An unknown name: the ARN it would have (AWS's random suffix is unknowable), which a policy
    # naming real secrets does not match, so AWS's AccessDenied, not a ResourceNotFound.
    return [
        (action, secret.arn if secret is not None else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}")
    ]


# A transaction is authorized item by item, as the action each item performs (DynamoDB Developer
# Guide, "Using IAM with DynamoDB transactions"): there is no TransactWriteItems permission.
TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb_authorizations(action: str, body: Mapping[str, Any], table_prefix: str) -> list[tuple[str, str]]:
    def arn(table: str) -> str:
        return table if table.startswith("arn:") else f"{table_prefix}{table}"

    found: list[tuple[str, str]] = []
    if isinstance(body.get("TableName"), str):
        index = body.get("IndexName")
        found.append((action, arn(body["TableName"]) + (f"/index/{index}" if isinstance(index, str) else "")))
    request_items = body.get("RequestItems")
    if isinstance(request_items, dict):  # BatchGetItem, BatchWriteItem: their own actions, per table
        found.extend((action, arn(table)) for table in request_items)
    for item in body.get("TransactItems") or []:  # TransactWriteItems, TransactGetItems
        for kind, operation in item.items() if isinstance(item, dict) else []:
            if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                found.append((TRANSACTION_ITEM_ACTIONS.get(str(kind), str(kind)), arn(operation["TableName"])))
    return list(dict.fromkeys(found))
