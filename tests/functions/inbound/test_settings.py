"""The inbound runtime contracts: what the component and the sandbox write is what the handlers read."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import pytest

from functions.environ import SettingsError
from functions.inbound.settings import EnrichSettings, IngestSettings, SourceConfig, sources_environment

SOURCES = {
    "github": SourceConfig("github", "github", "hookstack-inbound-github-secret-1a2b3c4", ordering_key="repository.id"),
    "twilio": SourceConfig(
        "twilio", "twilio", "arn:aws:secretsmanager:eu-west-1:1:secret:t", event_type_path="MessageStatus"
    ),
    "plain": SourceConfig("plain", "standard", "s"),
}
INGEST = IngestSettings(
    sources=SOURCES,
    table_name="ledger-1",
    queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo",
    bucket_name="payloads-1",
    claim_check_threshold_bytes=0,
    dedupe_ttl_seconds=3600,
    secret_ttl_seconds=60,
    max_target_item_bytes=6_225_920,
)


class Recording(Mapping[str, str]):
    """An environment that remembers every variable read from it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values, self.read = dict(values), set[str]()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@pytest.mark.parametrize(
    "settings",
    [INGEST, IngestSettings(sources={}, table_name="t", queue_url="q", bucket_name="b")],
    ids=["representative", "defaults"],
)
def test_ingest_settings_round_trip_and_every_variable_read_is_written(settings: IngestSettings) -> None:
    environ = settings.to_environ()
    recording = Recording(environ)
    assert IngestSettings.from_environ(recording) == settings
    assert recording.read == set(environ)  # nothing read that to_environ does not write, nothing written unread
    assert all(name.startswith("CONSUMER_") and value for name, value in environ.items())


@pytest.mark.parametrize(
    "settings", [EnrichSettings(), EnrichSettings(max_target_item_bytes=1, event_source="acme.webhooks")]
)
def test_enrich_settings_round_trip_and_every_variable_read_is_written(settings: EnrichSettings) -> None:
    environ = settings.to_environ()
    recording = Recording(environ)
    assert EnrichSettings.from_environ(recording) == settings
    assert recording.read == set(environ)


def test_defaults_are_the_documented_ones() -> None:
    minimal = {
        "CONSUMER_SOURCES": "{}",
        "CONSUMER_TABLE_NAME": "t",
        "CONSUMER_QUEUE_URL": "q",
        "CONSUMER_BUCKET_NAME": "b",
    }
    settings = IngestSettings.from_environ(minimal)
    assert (
        settings.claim_check_threshold_bytes,
        settings.dedupe_ttl_seconds,
        settings.secret_ttl_seconds,
        settings.max_target_item_bytes,
    ) == (200_000, 259_200, 300, 262_144)
    assert EnrichSettings.from_environ({}) == EnrichSettings(max_target_item_bytes=262_144, event_source="hookstack")


def test_the_sources_variable_is_compact_json_in_the_configured_order_without_secrets() -> None:
    text = sources_environment(SOURCES.values())
    assert text == (
        '{"github":{"kind":"github","secretId":"hookstack-inbound-github-secret-1a2b3c4","orderingKey":"repository.id"},'
        '"twilio":{"kind":"twilio","secretId":"arn:aws:secretsmanager:eu-west-1:1:secret:t","eventTypePath":"MessageStatus"},'
        '"plain":{"kind":"standard","secretId":"s"}}'
    )
    assert list(json.loads(INGEST.to_environ()["CONSUMER_SOURCES"])) == ["github", "twilio", "plain"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"CONSUMER_QUEUE_URL": ""}, "CONSUMER_QUEUE_URL is required"),
        ({"CONSUMER_SOURCES": "[]"}, "CONSUMER_SOURCES must be a JSON object"),
        ({"CONSUMER_SOURCES": "{"}, "CONSUMER_SOURCES must be a JSON object"),
        (
            {"CONSUMER_SOURCES": '{"x": {"kind": "github"}}'},
            r"CONSUMER_SOURCES\['x'\] needs kind \(one of github, twilio",
        ),
        ({"CONSUMER_SOURCES": '{"x": {"kind": "github", "secretId": 7}}'}, r"CONSUMER_SOURCES\['x'\] needs kind"),
        ({"CONSUMER_SOURCES": '{"x": "github"}'}, r"CONSUMER_SOURCES\['x'\] needs kind"),
        (
            {"CONSUMER_SOURCES": '{"x": {"kind": "github", "secretId": "s", "orderingKey": 5}}'},
            r"CONSUMER_SOURCES\['x'\]\.orderingKey must be a dotted path",
        ),
        ({"CONSUMER_DEDUPE_TTL_SECONDS": "-1"}, "CONSUMER_DEDUPE_TTL_SECONDS must be between 0 and"),
        (
            {"CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES": "1e5"},
            "CONSUMER_CLAIM_CHECK_THRESHOLD_BYTES must be a whole number",
        ),
    ],
)
def test_a_bad_variable_is_named(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        IngestSettings.from_environ({**INGEST.to_environ(), **changes})


def test_a_bad_enrich_variable_is_named() -> None:
    with pytest.raises(SettingsError, match="CONSUMER_MAX_TARGET_ITEM_BYTES must be between 0 and"):
        EnrichSettings.from_environ({"CONSUMER_MAX_TARGET_ITEM_BYTES": "-5"})
