"""The ingest's EMF records (accepted with enqueue latency, rejected by reason) and the caller's
``traceparent`` carried through the FIFO queue to the event's ``detail.traceparent`` (issue 16)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions import telemetry
from functions.inbound.enrich import enrich
from functions.inbound.envelope import parse_envelope
from functions.inbound.verify import SignedRequest
from tests.functions import emf
from tests.functions.inbound.conftest import InboundStack, status
from tests.functions.inbound.test_ingest import github_request, send

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def propagating(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(telemetry.PROPAGATE_VARIABLE, "true")
    telemetry.reset()
    yield
    telemetry.reset()


def traced(request: SignedRequest, value: str) -> SignedRequest:
    return SignedRequest(headers={**request.headers, "traceparent": value}, body=request.body)


def test_an_accepted_webhook_is_counted_with_its_enqueue_latency(
    inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status(send("/github", github_request())) == 200
    (record,) = emf.records(capsys.readouterr().out)
    assert (record["InboundAccepted"], record["InboundClaimChecked"], record["SourceKind"]) == (1, 0, "github")
    assert record["source"] == "github" and 0 <= record["EnqueueLatency"] < 30_000


def test_a_request_to_no_source_is_rejected_under_the_unknown_kind(
    inbound_stack: InboundStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status(send("/nowhere", github_request())) == 404
    (record,) = emf.records(capsys.readouterr().out)
    assert (record["InboundRejectedUnknownSource"], record["SourceKind"], record["reason"]) == (
        1,
        "unknown",
        "unknown_source",
    )


def test_the_callers_traceparent_becomes_the_events_detail_traceparent(
    inbound_stack: InboundStack, propagating: None
) -> None:
    assert status(send("/github", traced(github_request(), TRACEPARENT))) == 200
    [message] = inbound_stack.messages()
    envelope = parse_envelope(message["Body"])
    assert envelope.headers["traceparent"] == TRACEPARENT
    assert enrich(envelope, 262_144, "hookstack")["detail"]["traceparent"] == TRACEPARENT


@pytest.mark.parametrize("value", ["00-zz-00f067aa0ba902b7-01", TRACEPARENT.upper(), TRACEPARENT + "-extra"])
def test_a_malformed_traceparent_is_dropped_at_the_edge(
    inbound_stack: InboundStack, propagating: None, value: str
) -> None:
    assert status(send("/github", traced(github_request(), value))) == 200
    [message] = inbound_stack.messages()
    envelope = parse_envelope(message["Body"])
    assert "traceparent" not in envelope.headers
    assert "traceparent" not in enrich(envelope, 262_144, "hookstack")["detail"]


def test_without_propagation_the_traceparent_is_not_kept(inbound_stack: InboundStack) -> None:
    telemetry.reset()
    assert status(send("/github", traced(github_request(), TRACEPARENT))) == 200
    [message] = inbound_stack.messages()
    assert "traceparent" not in parse_envelope(message["Body"]).headers
