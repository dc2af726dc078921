"""The ingest handler under moto: verified, deduplicated, claim-checked, ordered, nothing lost."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from functions.environ import SettingsError
from functions.inbound import ingest
from functions.inbound.envelope import content_key, dedupe_key, delivery_digest, parse_envelope
from functions.inbound.settings import IngestSettings
from functions.inbound.source_secrets import SecretCache
from functions.inbound.verify import SignedRequest
from tests.functions.inbound import signers
from tests.functions.inbound.conftest import InboundStack, body_of, create_stack, function_url_event, status
from tests.functions.inbound.signers import NOW

PUSH = {"ref": "refs/heads/main", "repository": {"id": 1296269, "full_name": "octo/hello"}}


def push(delivery: str) -> dict[str, Any]:
    """A push event of its own: two deliveries of one body are one event (a replay, see below)."""
    return {**PUSH, "after": f"commit-{delivery}"}


def github_request(document: Any = None, delivery: str = "d-1", secret: str = "gh-current") -> SignedRequest:
    request = signers.github(json.dumps(push(delivery) if document is None else document).encode(), secret)
    return SignedRequest(headers=dict(request.headers, **{"x-github-delivery": delivery}), body=request.body)


def send(path: str, request: SignedRequest, **kwargs: Any) -> dict[str, Any]:
    return ingest.handler(function_url_event(path, request, **kwargs))


def github_record_key(request: SignedRequest) -> str:
    """GitHub signs no timestamp: a delivery is deduplicated on its signed body (not the unsigned id)."""
    return content_key(None, request.body)


def ledger_keys(stack: InboundStack) -> list[str]:
    return sorted(item["pk"]["S"] for item in stack.client("dynamodb").scan(TableName=stack.table)["Items"])


def stripe_event(event_id: str, customer: str | None) -> SignedRequest:
    document: dict[str, Any] = {"id": event_id, "type": "invoice.paid", "data": {"object": {}}}
    if customer:
        document["data"]["object"]["customer"] = customer
    import time

    return signers.stripe_request(json.dumps(document).encode(), "whsec_stripe", timestamp=int(time.time()))


class FailingCall:
    """Replaces one client method: raises a ClientError the first ``times`` calls, then delegates."""

    def __init__(self, real: Any, times: int = 1_000) -> None:
        self.real, self.times, self.calls = real, times, 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.times:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Call")
        return self.real(**kwargs)


# --- the happy path ------------------------------------------------------------------------------


def test_verified_push_is_enqueued_inline_with_its_group_and_dedup_id(inbound_stack: InboundStack) -> None:
    request = github_request()
    response = send("/github", request)
    assert status(response) == 200, response
    assert body_of(response)["status"] == "accepted"
    [message] = inbound_stack.messages()
    assert message["Attributes"]["MessageGroupId"] == "github:1296269"
    assert message["Attributes"]["MessageDeduplicationId"] == delivery_digest("github", github_record_key(request))
    envelope = parse_envelope(message["Body"])
    assert envelope.body == json.dumps(push("d-1")).encode() and envelope.claim_check is None
    assert envelope.event_type == "push" and envelope.delivery_id == "d-1"
    assert "x-hub-signature-256" not in envelope.headers  # signatures never travel
    assert inbound_stack.objects() == []
    # One ledger item, written after the send: the signed content, naming the delivery it came with.
    assert ledger_keys(inbound_stack) == [dedupe_key("github", github_record_key(request))]
    record = inbound_stack.ledger(dedupe_key("github", github_record_key(request)))
    assert record is not None and record["status"] == "enqueued" and record["deliveryKey"] == "github#id:d-1"
    assert record["messageId"] == message["MessageId"]


def test_duplicate_delivery_returns_200_and_is_enqueued_once(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    sends = FailingCall(rt.sqs.send_message, times=0)
    rt.sqs.send_message = sends
    assert body_of(send("/github", github_request()))["status"] == "accepted"
    second = send("/github", github_request())
    assert status(second) == 200 and body_of(second)["status"] == "duplicate"
    # The ledger, not only SQS's 5-minute deduplication window, stopped the second send.
    assert sends.calls == 1
    assert len(inbound_stack.messages()) == 1


def test_large_payload_goes_to_s3_and_only_the_pointer_travels(inbound_stack: InboundStack) -> None:
    document = {**PUSH, "commits": ["c" * 40] * 200}  # ~9 KB, threshold is 1000 bytes
    request = github_request(document)
    assert status(send("/github", request)) == 200
    [message] = inbound_stack.messages()
    envelope = parse_envelope(message["Body"])
    pointer = envelope.claim_check
    assert envelope.body is None and pointer is not None
    sha256 = hashlib.sha256(request.body).hexdigest()
    assert pointer.key == f"payloads/github/{delivery_digest('github', github_record_key(request))}/{sha256}"
    assert pointer.size == len(request.body) and pointer.sha256 == sha256
    stored = inbound_stack.client("s3").get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
    assert stored == request.body
    assert len(message["Body"]) < 1000
    assert message["Attributes"]["MessageGroupId"] == "github:1296269"  # read from the payload all the same


def test_small_payload_travels_inline_and_nothing_is_stored(inbound_stack: InboundStack) -> None:
    assert status(send("/github", github_request({"zen": "ok"}))) == 200
    assert inbound_stack.objects() == []
    assert parse_envelope(inbound_stack.messages()[0]["Body"]).body == b'{"zen": "ok"}'


def test_payload_whose_event_would_exceed_the_bus_entry_is_claim_checked(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = create_stack(monkeypatch, threshold=240_000)
    params = [("Body", "\x01" * 70_000)]  # %01 in the form (210 KB), \u0001 in the event (420 KB)
    body = urlencode(params).encode()
    assert len(body) < 240_000
    request = signers.twilio_form(params, "tw-token")
    assert status(send("/twilio", request)) == 200
    envelope = parse_envelope(stack.messages()[0]["Body"])
    assert envelope.claim_check is not None and envelope.claim_check.size == len(body)


# --- failures: nothing acknowledged, the provider's retry is processed ------------------------------


def test_enqueue_failure_returns_503_and_the_retry_is_processed_not_deduplicated(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    rt.sqs.send_message = FailingCall(rt.sqs.send_message, times=1)
    failed = send("/github", github_request())
    assert status(failed) == 503 and failed["headers"]["retry-after"] == "5"
    assert inbound_stack.messages() == []
    assert ledger_keys(inbound_stack) == []  # nothing is written before the send
    retried = send("/github", github_request())
    assert status(retried) == 200 and body_of(retried)["status"] == "accepted"
    assert len(inbound_stack.messages()) == 1


def test_s3_failure_returns_503_releases_the_claim_and_enqueues_nothing(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    rt.s3.put_object = FailingCall(rt.s3.put_object, times=1)
    big = github_request({**PUSH, "blob": "x" * 5000})
    assert status(send("/github", big)) == 503
    assert inbound_stack.messages() == [] and ledger_keys(inbound_stack) == []
    assert status(send("/github", big)) == 200
    assert len(inbound_stack.objects()) == 1 and len(inbound_stack.messages()) == 1


def test_ledger_failure_returns_503_and_enqueues_nothing(inbound_stack: InboundStack) -> None:
    inbound_stack.client("dynamodb").delete_table(TableName=inbound_stack.table)
    response = send("/github", github_request())
    assert status(response) == 503
    assert inbound_stack.messages() == []


def test_secrets_manager_failure_returns_503(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    rt.secretsmanager.get_secret_value = FailingCall(rt.secretsmanager.get_secret_value)
    assert status(send("/github", github_request())) == 503
    assert inbound_stack.messages() == []


def test_failure_to_record_still_acknowledges_the_enqueued_message(inbound_stack: InboundStack) -> None:
    rt = ingest.runtime()
    rt.dynamodb.put_item = FailingCall(rt.dynamodb.put_item, times=1)
    response = send("/github", github_request())
    assert status(response) == 200  # the message is durably on the queue
    assert ledger_keys(inbound_stack) == []
    # The retry finds no record and sends again: within 5 minutes SQS drops it (one message), and it
    # records the delivery this time.
    again = send("/github", github_request())
    assert status(again) == 200 and body_of(again)["status"] == "accepted"
    assert len(inbound_stack.messages()) == 1
    assert body_of(send("/github", github_request()))["status"] == "duplicate"


def test_another_body_under_an_unrecorded_delivery_cannot_replace_the_queued_claim_checked_body(
    inbound_stack: InboundStack,
) -> None:
    """Before the first request is recorded, a second one with the same delivery id and another body
    (a Mailgun signature covers no body) stores its own object: the queued pointer still reads the first."""
    rt = ingest.runtime()
    rt.dynamodb.put_item = FailingCall(rt.dynamodb.put_item, times=1)
    genuine, other = stripe_event("evt_same", "g" * 2000), stripe_event("evt_same", "x" * 2000)  # id only: one delivery
    assert status(send("/stripe", genuine)) == 200
    assert status(send("/stripe", other)) == 200
    [message] = inbound_stack.messages()  # the second was dropped by the FIFO deduplication
    pointer = parse_envelope(message["Body"]).claim_check
    assert pointer is not None
    stored = inbound_stack.client("s3").get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
    assert stored == genuine.body


def test_a_retry_that_looks_up_before_the_first_is_recorded_is_dropped_by_sqs(inbound_stack: InboundStack) -> None:
    """No 409 any more: the in-flight window is covered by the FIFO deduplication id, not a lease."""
    rt = ingest.runtime()
    real = rt.sqs.send_message
    answers: list[dict[str, Any]] = []

    def send_message(**kwargs: Any) -> Any:
        rt.sqs.send_message = real
        answers.append(send("/github", github_request()))  # the retry, while the first is mid-send
        return real(**kwargs)

    rt.sqs.send_message = send_message
    first = send("/github", github_request())
    assert [status(first), status(answers[0])] == [200, 200]
    assert body_of(answers[0])["eventId"] == body_of(first)["eventId"]
    assert len(inbound_stack.messages()) == 1


# --- ordering ---------------------------------------------------------------------------------------


def test_fifo_groups_follow_the_configured_ordering_key(inbound_stack: InboundStack) -> None:
    for event_id, customer in (("evt_1", "cus_A"), ("evt_2", "cus_B"), ("evt_3", "cus_A"), ("evt_4", None)):
        assert status(send("/stripe", stripe_event(event_id, customer))) == 200
    groups = {
        parse_envelope(m["Body"]).delivery_id: m["Attributes"]["MessageGroupId"] for m in inbound_stack.messages()
    }
    assert groups == {"evt_1": "stripe:cus_A", "evt_2": "stripe:cus_B", "evt_3": "stripe:cus_A", "evt_4": "stripe"}
    # Stripe's event id is the delivery id: a redelivered event is a duplicate.
    assert body_of(send("/stripe", stripe_event("evt_1", "cus_A")))["status"] == "duplicate"


def test_order_within_a_group_is_the_order_of_acceptance(inbound_stack: InboundStack) -> None:
    for index in range(5):
        assert status(send("/github", github_request({**PUSH, "n": index}, delivery=f"d-{index}"))) == 200
    sqs = inbound_stack.client("sqs")
    received = []
    for _ in range(5):
        [message] = sqs.receive_message(QueueUrl=inbound_stack.queue_url, MaxNumberOfMessages=1)["Messages"]
        received.append(json.loads(parse_envelope(message["Body"]).body or b"")["n"])
        sqs.delete_message(QueueUrl=inbound_stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert received == [0, 1, 2, 3, 4]


# --- verification at the edge ------------------------------------------------------------------------


def test_bad_signature_is_401_counted_and_not_enqueued(
    inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str]
) -> None:
    response = send("/github", github_request(secret="wrong"))
    assert status(response) == 401 and "bad_signature" in body_of(response)["error"]
    assert inbound_stack.messages() == [] and ledger_keys(inbound_stack) == []
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    alarm = [r for r in emf if r["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "hookstack/Inbound"]
    assert [(r["Source"], r["SignatureFailures"], r["reason"]) for r in alarm] == [("github", 1, "bad_signature")]
    # ...and the pipeline's rejection count (functions.metrics), by reason, with the source kind as dimension.
    rejected = [r for r in emf if r["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "hookstack"]
    assert [(r["SourceKind"], r["InboundRejectedSignature"], r["reason"]) for r in rejected] == [
        ("github", 1, "signature")
    ]


def test_secrets_never_reach_the_logs(inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str]) -> None:
    send("/github", github_request(secret="wrong"))
    send("/github", github_request())
    out = capsys.readouterr().out
    assert "gh-current" not in out and "x-hub-signature-256" not in out and "refs/heads/main" not in out


def test_rotation_window_accepts_previous_until_it_is_removed(
    inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [1000.0]
    rt = ingest.runtime()
    rt.secrets = SecretCache(rt._fetch_secret, ttl_seconds=300, clock=lambda: clock[0])
    assert status(send("/github", github_request(delivery="before"))) == 200
    # Step 1: deploy new + previous. Warm functions see it within the TTL.
    inbound_stack.set_secret("github", current="gh-new", previous="gh-current")
    clock[0] += 300
    assert status(send("/github", github_request(delivery="old-1", secret="gh-current"))) == 200
    assert status(send("/github", github_request(delivery="new-1", secret="gh-new"))) == 200
    assert '"PreviousSecretAccepted":1' in capsys.readouterr().out
    # Step 2: previous removed; after the TTL its signatures fail.
    inbound_stack.set_secret("github", current="gh-new")
    clock[0] += 300
    assert status(send("/github", github_request(delivery="old-2", secret="gh-current"))) == 401
    assert status(send("/github", github_request(delivery="new-2", secret="gh-new"))) == 200


def test_a_rotated_secret_is_picked_up_early_after_a_failed_verification(inbound_stack: InboundStack) -> None:
    clock = [1000.0]
    rt = ingest.runtime()
    rt.secrets = SecretCache(rt._fetch_secret, ttl_seconds=300, min_refresh_seconds=30, clock=lambda: clock[0])
    assert status(send("/github", github_request(delivery="a"))) == 200
    inbound_stack.set_secret("github", current="gh-new")
    clock[0] += 5  # too soon for an early re-read: still the cached secret
    assert status(send("/github", github_request(delivery="b", secret="gh-new"))) == 401
    clock[0] += 30
    assert status(send("/github", github_request(delivery="c", secret="gh-new"))) == 200


def test_routing_method_size_and_body_encoding_errors(inbound_stack: InboundStack) -> None:
    request = github_request()
    assert status(send("/gitlab", request)) == 404
    assert status(send("/github/extra", request)) == 404
    assert status(send("/", request)) == 404
    wrong_method = send("/github", request, method="GET")
    assert status(wrong_method) == 405 and wrong_method["headers"]["allow"] == "POST"
    event = function_url_event("/github", request)
    event.update(body="***not base64***", isBase64Encoded=True)
    assert status(ingest.handler(event)) == 400
    huge = SignedRequest(headers=request.headers, body=b"x" * (6 * 1024 * 1024 + 1))
    assert status(send("/github", huge)) == 413
    assert status(send("/github", huge, base64_body=True)) == 413
    assert inbound_stack.messages() == []


def test_trailing_slash_is_the_same_source(inbound_stack: InboundStack) -> None:
    assert status(send("/github/", github_request())) == 200


def test_malformed_json_with_a_valid_signature_is_400(inbound_stack: InboundStack) -> None:
    request = signers.github(b"{broken", "gh-current")
    response = send("/github", request)
    assert status(response) == 400 and "not valid JSON" in body_of(response)["error"]
    assert inbound_stack.messages() == []


def test_json_no_event_can_carry_is_400_and_a_deeply_nested_unsigned_body_is_401_not_500(
    inbound_stack: InboundStack,
) -> None:
    for body in (b'{"a": NaN}', b"[" * 100_000 + b"]" * 100_000, b'{"a": "\\ud800"}'):
        response = send("/github", signers.github(body, "gh-current"))
        assert status(response) == 400 and "not valid JSON" in body_of(response)["error"]
    # Graph and Mailgun read their credentials from the body, before anything is authenticated.
    deep = SignedRequest(headers={"content-type": "application/json"}, body=b'{"value":' + b"[" * 100_000)
    assert status(send("/msgraph", deep)) == 401
    assert status(send("/mailgun", deep)) == 401
    assert inbound_stack.messages() == []


def test_base64_body_is_verified_on_the_decoded_bytes(inbound_stack: InboundStack) -> None:
    body = bytes(range(256))
    request = signers.shopify(body, "shop-secret")
    request = SignedRequest(headers=dict(request.headers, **{"content-type": "application/octet-stream"}), body=body)
    assert status(send("/shopify", request, base64_body=True)) == 200
    envelope = parse_envelope(inbound_stack.messages()[0]["Body"])
    assert envelope.body == body and envelope.event_type == "orders/create" and envelope.delivery_id == "b54557e4"


def test_slack_url_verification_is_answered_and_not_enqueued(inbound_stack: InboundStack) -> None:
    import time

    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    response = send("/slack", signers.slack(body.encode(), "slack-secret", timestamp=int(time.time())))
    assert status(response) == 200 and body_of(response) == {
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    }
    assert inbound_stack.messages() == []


def test_twilio_is_verified_against_the_configured_public_url_with_query(inbound_stack: InboundStack) -> None:
    params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    request = signers.twilio_form(params, "tw-token", query="tenant=7")
    assert status(send("/twilio", request)) == 200
    # The same request under a Host/URL the provider did not sign is refused: the URL is configured.
    assert status(send("/twilio", signers.twilio_form(params, "tw-token", url="https://evil.example/twilio"))) == 401
    get_request = SignedRequest(headers=request.headers, body=b"", query="")
    assert status(send("/twilio", get_request, method="GET")) == 401  # GET allowed, signature still checked


def test_standard_webhook_event_type_and_id(inbound_stack: InboundStack) -> None:
    import time

    body = json.dumps({"type": "invoice.paid", "timestamp": "2026-01-01T00:00:00Z", "data": {}}).encode()
    request = signers.standard(body, signers.whsec(b"std"), timestamp=int(time.time()), msg_id="msg_abc")
    assert status(send("/standard", request)) == 200
    envelope = parse_envelope(inbound_stack.messages()[0]["Body"])
    assert (envelope.event_type, envelope.delivery_id) == ("invoice.paid", "msg_abc")


def test_stale_signature_is_refused(inbound_stack: InboundStack) -> None:
    request = signers.stripe_request(b'{"id":"evt_1","type":"x"}', "whsec_stripe", timestamp=NOW)  # long ago
    assert status(send("/stripe", request)) == 401


def test_misconfiguration_is_a_clear_error_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSUMER_SOURCES", raising=False)
    with pytest.raises(SettingsError, match="CONSUMER_SOURCES is required"):
        IngestSettings.from_environ({})
    with pytest.raises(SettingsError, match=r"CONSUMER_SOURCES\['x'\] needs kind"):
        IngestSettings.from_environ({"CONSUMER_SOURCES": '{"x": {"kind": "gitlab"}}'})
    env = {
        "CONSUMER_SOURCES": "{}",
        "CONSUMER_TABLE_NAME": "t",
        "CONSUMER_QUEUE_URL": "q",
        "CONSUMER_BUCKET_NAME": "b",
        "CONSUMER_DEDUPE_TTL_SECONDS": "soon",
    }
    with pytest.raises(SettingsError, match="CONSUMER_DEDUPE_TTL_SECONDS must be a whole number"):
        IngestSettings.from_environ(env)
    ingest.reset()
    response = ingest.handler(function_url_event("/github", github_request()))
    assert status(response) == 500  # never a bare Lambda error


def test_malformed_source_secret_is_a_500_and_nothing_is_accepted(inbound_stack: InboundStack) -> None:
    inbound_stack.client("secretsmanager").put_secret_value(
        SecretId=inbound_stack.secret_ids["github"], SecretString="not json"
    )
    response = send("/github", github_request())
    assert status(response) == 500 and "misconfigured" in body_of(response)["error"]
    no_url = json.dumps({"current": "tw-token", "previous": None, "publicUrl": None})
    inbound_stack.client("secretsmanager").put_secret_value(
        SecretId=inbound_stack.secret_ids["twilio"], SecretString=no_url
    )
    assert status(send("/twilio", signers.twilio_form([("A", "1")], "tw-token"))) == 500
    assert inbound_stack.messages() == []


@pytest.mark.parametrize("stored", ["whsec_", "whsec_!!!", "whsec_AAAA"])
def test_a_standard_secret_that_decodes_to_no_usable_key_is_a_500_never_accepted(
    inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str], stored: str
) -> None:
    """``whsec_`` used to decode to an empty key: a request signed with it (by anyone) was accepted."""
    import base64
    import hmac
    import time

    inbound_stack.set_secret("standard", current=stored)
    now = int(time.time())
    body = b'{"type": "invoice.paid"}'
    forged = base64.b64encode(hmac.new(b"", f"msg_x.{now}.".encode() + body, hashlib.sha256).digest()).decode()
    request = SignedRequest(
        headers={
            "webhook-id": "msg_x",
            "webhook-timestamp": str(now),
            "webhook-signature": f"v1,{forged}",
            "content-type": "application/json",
        },
        body=body,
    )
    response = send("/standard", request)
    assert status(response) == 500 and "misconfigured" in body_of(response)["error"]
    assert inbound_stack.messages() == []
    logged = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"source secret is malformed"' in line
    ]
    assert logged and logged[0]["source"] == "standard" and stored not in json.dumps(logged)
