"""``sandbox up --log-format text|json [--quiet]``: records shown for a person or kept for machines."""

from __future__ import annotations

import io
import json
import threading

import pytest

from functions import logs
from sandbox.logs import LogStream, default_format, render_text, routed_stdout

RECORD = {
    "level": "INFO",
    "message": "delivery attempt",
    "timestamp": 1767225600.25,
    "tenantId": "1",
    "statusCode": 200,
}


def shown(log_format: str, quiet: bool, *lines: str) -> list[str]:
    target = io.StringIO()
    stream = LogStream(target, log_format=log_format, quiet=quiet)
    for line in lines:
        stream.write(line + "\n")
    stream.flush()
    return target.getvalue().splitlines()


def test_json_keeps_each_record_as_it_was_and_text_makes_it_readable() -> None:
    line = json.dumps(RECORD, separators=(",", ":"))
    assert shown("json", False, line) == [line]
    (text,) = shown("text", False, line)
    assert text.endswith("INFO    delivery attempt  tenantId=1 statusCode=200")
    assert text[:12].count(":") == 2 and text[8] == "."  # HH:MM:SS.mmm, local time
    assert render_text({**RECORD, "note": "two words", "ids": ["a", "b"], "gone": None}).endswith(
        'statusCode=200 note="two words" ids=["a","b"]'
    )


def test_quiet_drops_info_keeps_warnings_errors_and_other_lines() -> None:
    warning = json.dumps({**RECORD, "level": "WARNING", "message": "delivery dead-lettered"})
    assert shown("json", True, json.dumps(RECORD), warning, "sandbox ready", "{not a record}") == [
        warning,
        "sandbox ready",
        "{not a record}",
    ]


def test_functions_logs_go_through_it_and_threads_do_not_mix_lines() -> None:
    target = io.StringIO()
    with routed_stdout(target, log_format="text", quiet=False):

        def work(n: int) -> None:
            for i in range(50):
                logs.info("step", worker=n, i=i)
                print("plain", n, i)  # two writes: the text, then the newline

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = target.getvalue().splitlines()
    assert len(lines) == 400
    assert all(" INFO    step  worker=" in line or line.startswith("plain ") for line in lines)


@pytest.mark.parametrize(("tty", "expected"), [(True, "text"), (False, "json")])
def test_text_on_a_terminal_json_otherwise(tty: bool, expected: str) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert default_format(Stream()) == expected


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        LogStream(io.StringIO(), log_format="yaml")


def test_metric_records_are_info_records_too() -> None:
    # Every delivery attempt writes an EMF document (functions.metrics): `--quiet` printed each one, and
    # text showed them as raw JSON between the readable lines.
    from functions import metrics

    document = metrics.record(metrics.DELIVERY, {metrics.ATTEMPTS: 1}, {"Engine": "worker"}, tenantId="1")
    line = json.dumps(document, separators=(",", ":"))
    assert shown("json", False, line) == [line]
    assert shown("json", True, line) == []
    assert shown("text", True, line) == []
    (text,) = shown("text", False, line)
    assert " INFO    metrics  tenantId=1 " in text and "Attempts=1" in text and "_aws" not in text
