"""Inbound webhooks in the sandbox, from the same spec as ``WebhookConsumer`` (no Pulumi here).

Creates the ledger table, the payload bucket, the FIFO queue and its DLQ (visibility timeout,
redrive count and retention split from :mod:`components.specs.consumer`), one secret per source
holding ``{current, previous, publicUrl}``, and sets the ``CONSUMER_*`` environment the functions
get through their contracts (:mod:`functions.inbound.settings`; the enrichment publishes
as ``<provider.eventSource>.<source name>``, like the deployed one; the state file lists those
sources as ``inbound_event_sources``). The ingest handler
is served over local HTTP like its function URL (``/<source name>``); a loop plays the Pipe:
the Pipe's batch size (one message) at a time, the enrichment handler, then ``PutEvents`` of each
item exactly as the Pipe's bus target maps it (:func:`functions.inbound.target.bus_entry`); the
message is deleted only when every entry was accepted, else it returns to the queue and, after
``maxReceiveCount`` receives, moves to the DLQ.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from typing import Any

from components.config import ConsumerSettings
from components.policy_documents import policy_document
from components.specs.consumer import consumer_spec, payload_objects_arn, source_url
from functions.inbound.source_secrets import secret_document
from functions.inbound.target import event_source as inbound_event_source
from sandbox.iam import PIPES_SERVICE, LocalIam, function_arn, pipe_log_streams_arn
from sandbox.lambda_http import LambdaContext, LambdaHttpServer, load_handler
from sandbox.sqs_worker import PollingThread, receive, sqs_record


class LocalConsumer:
    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        event_source: str,
        endpoint: str,
        bus_name: str,
        time_scale: float,
        set_environment: Any,
        iam: LocalIam | None = None,
    ) -> None:
        """``event_source``: the stack's ``provider.eventSource`` (events are ``<it>.<source name>``);
        ``iam``: run the functions and the Pipe as their roles (None: with the process's credentials)."""
        from sandbox.aws import client

        self.settings = settings
        # moto has no S3 Express: with payloadStore s3express the sandbox keeps a general purpose
        # bucket, so its roles hold the s3 statements (docs/sandbox.md, deviations).
        self.spec = spec = dataclasses.replace(consumer_spec(settings, event_source=event_source), payload_store="s3")
        self.event_source = event_source
        self.bus_name = bus_name
        self.time_scale = time_scale
        self.set_environment = set_environment
        self.iam = iam
        self.sqs = client("sqs", endpoint)
        self.events = client("events", endpoint)
        self.s3 = client("s3", endpoint)
        self.dynamodb = client("dynamodb", endpoint)
        self.secretsmanager = client("secretsmanager", endpoint)
        self.server = LambdaHttpServer(
            load_handler(spec.ingest_handler),
            function_name=spec.ingest_function_name,
            timeout_seconds=spec.ingest_timeout_seconds,
        )
        self.enrich: Any = load_handler(spec.enrich_handler)  # takes the Pipe's list of records
        self.queue_url = ""
        self.dead_letter_queue_url = ""
        self.bucket = f"{spec.name}-payloads"
        self.table = f"{spec.name}-ledger"
        self.processed = 0
        # The Pipe reads its queue and puts events with its role (the visibility timeout it waits out
        # on a failure is compressed by the sandbox itself, with its own client).
        self.pipe_sqs, self.pipe_events = self.sqs, self.events
        self._pipe_thread = PollingThread(self._pipe, name="pipe-inbound")

    def create(self) -> None:
        spec = self.spec
        self.dynamodb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.update_time_to_live(
            TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
        )
        self.s3.create_bucket(Bucket=self.bucket)
        self.dead_letter_queue_url = self.sqs.create_queue(
            QueueName=f"{spec.name}-dlq.fifo",
            Attributes={"FifoQueue": "true", "MessageRetentionPeriod": str(spec.dead_letter_retention_seconds)},
        )["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dead_letter_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.queue_url = self.sqs.create_queue(
            QueueName=f"{spec.name}-queue.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "false",
                "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId",
                "MessageRetentionPeriod": str(spec.queue_retention_seconds),
                "VisibilityTimeout": str(spec.visibility_timeout_seconds),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
                ),
            },
        )["QueueUrl"]
        secret_ids, secret_arns = [], []
        for source in self.settings.sources:
            name = spec.secret_name(source.name)
            public = source.public_url or source_url(self.server.url, source.name)
            previous = source.previous_secret.reveal() if source.previous_secret else None
            created = self.secretsmanager.create_secret(
                Name=name, SecretString=secret_document(source.secret.reveal(), previous, public)
            )
            secret_ids.append(name)
            secret_arns.append(str(created["ARN"]))
        ingest = spec.ingest_settings(
            table_name=self.table, queue_url=self.queue_url, bucket_name=self.bucket, secret_ids=secret_ids
        )
        # One process runs both handlers: the union of their environments (they agree where they share).
        self.set_environment({**ingest.to_environ(), **spec.enrich_settings().to_environ()})
        if self.iam is not None:
            self._run_as_roles(self.iam, secret_arns)

    def _run_as_roles(self, iam: LocalIam, secret_arns: list[str]) -> None:
        """The functions and the Pipe as their roles, holding the statements ``WebhookConsumer`` declares."""
        import os

        from functions.inbound import enrich, ingest
        from functions.inbound.settings import EnrichSettings, IngestSettings

        spec = self.spec
        table = str(self.dynamodb.describe_table(TableName=self.table)["Table"]["TableArn"])
        queue = str(
            self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )
        bucket = f"arn:aws:s3:::{self.bucket}"
        payloads = payload_objects_arn(bucket)
        ingest_role = iam.function_role(
            spec.ingest_function_name,
            spec.ingest_statements(
                secret_arns=secret_arns, table_arn=table, payloads_arn=payloads, bucket_arn=bucket, queue_arn=queue
            ),
        )
        enrich_role = iam.function_role(
            spec.enrich_function_name, spec.enrich_statements(payloads_arn=payloads, bucket_arn=bucket)
        )
        # The runtime idiom's injection point: each handler's state, built on its role's session.
        ingest._state.set(ingest.Runtime(IngestSettings.from_environ(os.environ), session=ingest_role.session))
        enrich._state.set(enrich.Runtime(EnrichSettings.from_environ(os.environ), session=enrich_role.session))
        if spec.target != "bus":  # the sandbox's Pipe puts on the bus whatever the target (docs/sandbox.md)
            return
        bus = str(self.events.describe_event_bus(Name=self.bus_name)["Arn"])
        pipe_role = iam.role(
            f"{spec.name}-pipe-role",
            policy_document(
                spec.pipe_statements(
                    queue_arn=queue,
                    enrichment_arn=function_arn(spec.enrich_function_name),
                    log_streams_arn=pipe_log_streams_arn(spec.name),
                    target_arn=bus,
                )
            ),
            service=PIPES_SERVICE,
        )
        self.pipe_sqs, self.pipe_events = pipe_role.emulator_client("sqs"), pipe_role.emulator_client("events")

    def start(self) -> None:
        self.server.start()
        self._pipe_thread.start()

    def stop(self) -> None:
        self._pipe_thread.stop()
        self.server.stop()

    def state(self) -> dict[str, Any]:
        return {
            "inbound": {s.name: source_url(self.server.url, s.name) for s in self.settings.sources},
            "inbound_event_sources": {
                s.name: inbound_event_source(self.event_source, s.name) for s in self.settings.sources
            },
            "inbound_queue_url": self.queue_url,
            "inbound_dead_letter_queue_url": self.dead_letter_queue_url,
            "inbound_bucket": self.bucket,
        }

    # -- the Pipe ------------------------------------------------------------------------------

    def _pipe(self) -> None:
        from functions.inbound.target import bus_entry

        queue_arn = self.pipe_sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        stopping = self._pipe_thread.stopping
        while not stopping.is_set():
            messages = receive(
                self.pipe_sqs,
                self.queue_url,
                stopping,
                MaxNumberOfMessages=self.spec.batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            for message in messages:
                try:
                    items = self.enrich([sqs_record(message, queue_arn)], LambdaContext(self.spec.enrich_function_name))
                    entries = [bus_entry(item, self.bus_name) for item in items]
                    response = self.pipe_events.put_events(Entries=entries) if entries else {"FailedEntryCount": 0}
                    if response.get("FailedEntryCount"):
                        raise RuntimeError(f"{response['FailedEntryCount']} entries refused by PutEvents")
                except Exception:
                    traceback.print_exc()
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=max(0, int(self.spec.visibility_timeout_seconds * self.time_scale)),
                    )
                    continue
                self.pipe_sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                self.processed += 1
