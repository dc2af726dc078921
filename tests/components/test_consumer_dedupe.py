"""``consumer.sources[].dedupe``: its values and the kinds that may turn deduplication off, checked with
the other problems before deploying, and carried to the ingest function's ``CONSUMER_SOURCES``."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import StackConfigError, parse_stack_config
from components.config.stack_file import _StackFileLoader
from components.specs.consumer import consumer_spec
from functions.inbound.dedupe import DEDUPE_MODES, DEDUPE_OFF_KINDS
from functions.inbound.kinds import KIND_NAMES
from functions.inbound.settings import IngestSettings
from tests.functions.inbound.recipes import RECIPES

DROPBOX = {"name": "dropbox", "kind": "hmac", "secret": "s", "hmac": RECIPES["dropbox"]}
GRAPH = {"name": "graph", "kind": "msgraph", "secret": "s"}
GITHUB = {"name": "github", "kind": "github", "secret": "s"}
ACCEPTS_OFF = "off is accepted only for kinds hmac and msgraph (an hmac source without hmac.deliveryIdHeader)"


def problems_of(*sources: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config({"consumer": {"sources": list(sources)}})
    return {problem.path: problem.message for problem in caught.value.problems}


def test_dedupe_defaults_to_content_and_off_is_accepted_for_dropbox_and_graph() -> None:
    sources = parse_stack_config(
        {"consumer": {"sources": [{**DROPBOX, "dedupe": "off"}, {**GRAPH, "dedupe": "off"}, GITHUB]}}
    ).consumer.sources
    assert [source.dedupe for source in sources] == ["off", "off", "content"]
    null = parse_stack_config({"consumer": {"sources": [{**GRAPH, "dedupe": None}]}}).consumer.sources
    assert null[0].dedupe == "content"
    assert DEDUPE_MODES[0] == "content" and set(DEDUPE_OFF_KINDS) <= set(KIND_NAMES)


def test_an_unquoted_yaml_off_is_off() -> None:
    # PyYAML (the sandbox, the stack-file check) reads YAML 1.1, where an unquoted off is false.
    raw = yaml.load("name: graph\nkind: msgraph\nsecret: s\ndedupe: off\n", Loader=_StackFileLoader)
    assert raw["dedupe"] is False
    assert parse_stack_config({"consumer": {"sources": [raw]}}).consumer.sources[0].dedupe == "off"


def test_a_bad_value_and_a_kind_that_refuses_off_are_named_with_the_others() -> None:
    found = problems_of(
        {**GRAPH, "dedupe": "none"},
        {**GITHUB, "dedupe": "off"},
        {**DROPBOX, "name": "linear", "hmac": RECIPES["linear"], "dedupe": "off"},
        {**GRAPH, "name": "graph-2", "dedupe": True},
        {**GRAPH, "name": "graph-3", "kind": "gitlab", "dedupe": "off"},  # the kind's own problem only
    )
    assert found == {
        "hookstack:consumer.sources[0].dedupe": "must be one of content, off; got 'none'",
        "hookstack:consumer.sources[1].dedupe": f"must be content for a github source: {ACCEPTS_OFF}, whose "
        "providers may repeat a notification byte for byte with no delivery id (Dropbox, Microsoft Graph)",
        "hookstack:consumer.sources[2].dedupe": f"must be content for an hmac source with hmac.deliveryIdHeader: "
        f"{ACCEPTS_OFF}, whose providers may repeat a notification byte for byte with no delivery id (Dropbox, "
        "Microsoft Graph)",
        "hookstack:consumer.sources[3].dedupe": "must be one of content, off; got True",
        "hookstack:consumer.sources[4].kind": f"must be one of {', '.join(KIND_NAMES)}; got 'gitlab'",
    }


@pytest.mark.parametrize("kind", sorted(set(KIND_NAMES) - set(DEDUPE_OFF_KINDS)))
def test_every_other_kind_refuses_off(kind: str) -> None:
    found = problems_of({"name": "x", "kind": kind, "secret": "s", "dedupe": "off"})
    assert found.get("hookstack:consumer.sources[0].dedupe", "").startswith(f"must be content for a {kind} source")


def test_the_spec_carries_dedupe_to_the_ingest_environment_and_back() -> None:
    settings = parse_stack_config(
        {"consumer": {"sources": [{**DROPBOX, "dedupe": "off"}, {**GRAPH, "dedupe": "off"}, GITHUB]}}
    ).consumer
    spec = consumer_spec(settings, event_source="hookstack")
    written = spec.ingest_settings(table_name="t", queue_url="q", bucket_name="b", secret_ids=["d", "g", "h"])
    environ = written.to_environ()
    document = json.loads(environ["CONSUMER_SOURCES"])
    assert {name: entry.get("dedupe") for name, entry in document.items()} == {
        "dropbox": "off",
        "graph": "off",
        "github": None,  # the default is not written: an existing stack's environment does not change
    }
    read = IngestSettings.from_environ(environ)
    assert read == written
    assert {name: source.deduplicated for name, source in read.sources.items()} == {
        "dropbox": False,
        "graph": False,
        "github": True,
    }


def test_the_documented_dropbox_and_graph_sources_turn_dedupe_off() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "consumer.md").read_text()
    documented = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        for source in (yaml.safe_load(textwrap.dedent(block)) or {}).get("sources", []):
            documented[source["name"]] = {**source, "secret": "s"}
    recommended = [documented["dropbox"], documented["graph"]]
    sources = parse_stack_config({"consumer": {"sources": recommended}}).consumer.sources
    assert [(source.kind, source.dedupe) for source in sources] == [("hmac", "off"), ("msgraph", "off")]
