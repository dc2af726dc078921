"""Secrets Manager secrets of worker endpoints declared in the stack config, and the crypto layer.

- ``signing.scheme: v1a``: an ed25519 seed from ``random.RandomBytes`` (made once, kept in state),
  stored as the ``whsk_`` private key in a secret named
  :func:`functions.delivery.v1a.secret_name`; its ``whpk_`` public key is derived in the program,
  written into the table (:func:`functions.delivery.v1a.public_key_item`, for the public-key route)
  and exported (stack output ``signingPublicKeys``).
- ``auth.type: oauth``: the client secret, in a secret named
  :func:`functions.delivery.oauth.client_secret_name`.

Every secret is named under the delivery table's name, the one prefix the API and worker roles may
read (:func:`components.specs.delivery.endpoint_secrets_arn`). The layer (``cryptography`` for arm64,
:mod:`components.layers`) is declared once and attached to the API and the worker only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.common import child
from components.config import Destination, OAuthAuth, Tenant
from components.packaging import ARCHITECTURE, RUNTIME, Package
from components.plan import resource_key
from functions.delivery import oauth, schema, store, v1a
from functions.delivery.store.dynamo import to_item


@dataclass(frozen=True)
class EndpointSecrets:
    secrets: list[aws.secretsmanager.Secret]
    versions: list[aws.secretsmanager.SecretVersion]
    public_key_items: list[aws.dynamodb.TableItem]
    public_keys: dict[str, dict[str, pulumi.Output[str]]]
    """tenant id -> destination name -> ``whpk_`` public key (not a secret)."""


def private_key_of_seed(seed_base64: str) -> str:
    return v1a.private_key_from_seed(base64.b64decode(seed_base64))


def public_key_of_seed(seed_base64: str) -> str:
    return v1a.public_key(private_key_of_seed(seed_base64))


@dataclass(frozen=True)
class _Names:
    """One endpoint's secret names and public-key item, from the table's name (inside ``apply``)."""

    tenant_id: str
    endpoint_id: str

    def v1a_key(self, table_name: str) -> str:
        return v1a.secret_name(table_name, self.tenant_id, self.endpoint_id)

    def oauth_client_secret(self, table_name: str) -> str:
        return oauth.client_secret_name(table_name, self.tenant_id, self.endpoint_id)

    def public_key_item_json(self, public: str) -> str:
        return json.dumps(to_item(v1a.public_key_item(self.tenant_id, self.endpoint_id, public)), sort_keys=True)


def endpoint_secrets(
    name: str,
    parent: pulumi.ComponentResource,
    table: aws.dynamodb.Table,
    destinations: Sequence[tuple[Tenant, Destination]],
) -> EndpointSecrets:
    found = EndpointSecrets([], [], [], {})

    def secret(logical: str, secret_name: pulumi.Output[str], value: pulumi.Output[str], what: str) -> None:
        created = aws.secretsmanager.Secret(
            logical,
            name=secret_name,
            description=what,
            # A destination removed from the config deletes its secret at once: Pulumi may need the
            # same name again if it comes back, and a pending deletion would block it.
            recovery_window_in_days=0,
            opts=child(parent),
        )
        found.secrets.append(created)
        found.versions.append(
            aws.secretsmanager.SecretVersion(
                f"{logical}-value", secret_id=created.id, secret_string=value, opts=child(parent)
            )
        )

    for tenant, destination in destinations:
        key = resource_key(tenant.id, destination.name)
        endpoint_id = store.config_endpoint_id(destination.name)
        names = _Names(tenant.id, endpoint_id)
        if destination.signing is not None and destination.signing.scheme == v1a.SCHEME:
            seed = random.RandomBytes(f"{name}-{key}-v1a-seed", length=v1a.SEED_BYTES, opts=child(parent))
            private: pulumi.Output[str] = pulumi.Output.secret(seed.base64.apply(private_key_of_seed))
            secret(
                f"{name}-{key}-v1a-key",
                table.name.apply(names.v1a_key),
                private,
                f"hookstack v1a signing key of tenant {tenant.id} destination {destination.name}",
            )
            # The public half is not a secret: unsecret() so it can be exported and stored in plain.
            public: pulumi.Output[str] = pulumi.Output.unsecret(seed.base64.apply(public_key_of_seed))
            found.public_keys.setdefault(tenant.id, {})[destination.name] = public
            found.public_key_items.append(
                aws.dynamodb.TableItem(
                    f"{name}-{key}-public-key",
                    table_name=table.name,
                    hash_key=schema.PK,
                    range_key=schema.SK,
                    item=public.apply(names.public_key_item_json),
                    opts=child(parent),
                )
            )
        if isinstance(destination.auth, OAuthAuth):
            secret(
                f"{name}-{key}-oauth-client-secret",
                table.name.apply(names.oauth_client_secret),
                pulumi.Output.secret(destination.auth.client_secret.reveal()),
                f"hookstack OAuth client secret of tenant {tenant.id} destination {destination.name}",
            )
    return found


def crypto_layer(name: str, parent: pulumi.ComponentResource, package: Package) -> aws.lambda_.LayerVersion:
    return aws.lambda_.LayerVersion(
        f"{name}-crypto-layer",
        layer_name=f"{name}-crypto",
        description="cryptography (ed25519) for v1a signatures: components/layers.py",
        code=pulumi.FileArchive(str(package.path)),
        source_code_hash=package.sha256_base64,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        opts=child(parent),
    )
