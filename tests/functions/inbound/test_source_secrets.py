"""The source secret cache: TTL, early refresh after a failed signature, strict format."""

from __future__ import annotations

import json

import pytest

from functions.inbound.source_secrets import SecretCache, SecretFormatError, parse_secret


class Store:
    def __init__(self) -> None:
        self.values = {"arn:1": json.dumps({"current": "a", "previous": None, "publicUrl": "https://x/y"})}
        self.reads = 0

    def fetch(self, secret_id: str) -> str:
        self.reads += 1
        return self.values[secret_id]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_value_is_cached_for_the_ttl_then_reread() -> None:
    store, clock = Store(), Clock()
    cache = SecretCache(store.fetch, ttl_seconds=300, clock=clock)
    assert cache.get("arn:1").candidates == ["a"]
    clock.now += 299
    store.values["arn:1"] = json.dumps({"current": "b", "previous": "a"})
    assert cache.get("arn:1").current == "a" and store.reads == 1
    clock.now += 1
    assert cache.get("arn:1").candidates == ["b", "a"] and store.reads == 2


def test_refresh_rereads_early_but_at_most_once_per_interval() -> None:
    store, clock = Store(), Clock()
    cache = SecretCache(store.fetch, ttl_seconds=300, min_refresh_seconds=30, clock=clock)
    cache.get("arn:1")
    clock.now += 10
    assert cache.refresh("arn:1") is None and store.reads == 1
    clock.now += 20
    store.values["arn:1"] = json.dumps({"current": "rotated"})
    refreshed = cache.refresh("arn:1")
    assert refreshed is not None and refreshed.current == "rotated" and store.reads == 2
    assert cache.get("arn:1").current == "rotated" and store.reads == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"previous": "a"}', "non-empty 'current'"),
        ('{"current": "a", "previous": 5}', "'previous' must be a string"),
        ('{"current": "a", "publicUrl": 5}', "'publicUrl' must be a string"),
    ],
)
def test_malformed_secret_documents_are_refused(text: str, message: str) -> None:
    with pytest.raises(SecretFormatError, match=message):
        parse_secret(text)


def test_empty_previous_means_no_previous() -> None:
    assert parse_secret('{"current": "a", "previous": ""}').candidates == ["a"]
