"""Stack files the sandbox cannot use are refused with the file name and line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.config import StackConfigError, StackFileError, load_stack_file, read_stack_file
from sandbox.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
VALID = """\
config:
  aws:region: us-east-1
  random:seed: 3
  hookstack:tenants:
    - id: "1"
      destinations:
        - name: crm
          url: https://crm.example.com/hooks
          auth: {type: none}
"""

# (file text, the line (or line:column) reported, a fragment of the message)
REFUSED = {
    "empty": ("", "1", "the file is empty"),
    "only a comment": ("# nothing here\n", "1", "the file is empty"),
    "keys outside config:": (
        "aws:region: x\nhookstack:tenants: []\n",
        "2",
        "hookstack:tenants: must be under `config:`",
    ),
    "no config: root": ("name: hookstack\nruntime: python\n", "1", "has no top-level `config:` key"),
    "document is a list": ("- config\n", "1", "must be a mapping with a top-level `config:` key, got a list"),
    "config: is a list": (
        "name: x\nconfig: [a]\n",
        "2",
        "config: must be a mapping of `<namespace>:<key>: value` settings, got a list",
    ),
    "config: is empty": ("config:\n", "1", "config: is empty"),
    "no hookstack: key": ("config:\n  aws:region: us-east-1\n", "1", "config: has no `hookstack:` keys"),
    "namespace typo": (
        'config:\n  aws:region: us-east-1\n  hookstak:tenants:\n    - id: "1"\n',
        "3",
        "hookstak:tenants: unknown namespace `hookstak`; did you mean `hookstack:tenants`?",
    ),
    "namespace swap": (
        "config:\n  hookstack:aurora: {}\n  hookstakc:consumer: {}\n",
        "3",
        "unknown namespace `hookstakc`",
    ),
    "namespace case": ("config:\n  Hookstack:tenants: []\n", "2", "unknown namespace `Hookstack`"),
    "no namespace": (
        "config:\n  tenants: []\n",
        "2",
        "tenants: keys are `<namespace>:<key>`; did you mean `hookstack:tenants`?",
    ),
    "key not a string": (
        "config:\n  hookstack:aurora: {}\n  7: x\n",
        "3",
        "config: key '7' is not `<namespace>:<key>`",
    ),
    "yaml syntax": ('config:\n  hookstack:tenants:\n    - id: "1"\n     destinations: []\n', "4:6", "invalid YAML"),
    "unclosed quote": ('config:\n  hookstack:alarmEmail: "ops@example.com\n', "3:1", "invalid YAML"),
    "unknown tag": (
        "config:\n  hookstack:tenants: !vault x\n",
        "2:22",
        "invalid YAML: could not determine a constructor for the tag '!vault'",
    ),
    "duplicate key": (
        'config:\n  hookstack:tenants:\n    - id: "1"\n      id: "2"\n',
        "4",
        "`id` is given twice in one mapping (first at line 3)",
    ),
    "duplicate namespace key": (
        "config:\n  hookstack:aurora: {}\n  hookstack:aurora: {enabled: true}\n",
        "3",
        "given twice",
    ),
    # YAML 1.1 reads these as numbers, not as the text written: tenant "010" would be the tenant "8".
    "octal number": ("config:\n  hookstack:tenants:\n    - id: 010\n", "3", "`010` is read by YAML as the number 8"),
    "sexagesimal number": (
        "config:\n  hookstack:tenants:\n    - id: acme\n    - id: 1:30\n",
        "4",
        "`1:30` is read by YAML as the number 90 (write it in decimal, or quote it ('1:30') if it is text)",
    ),
    "hex number": (
        "config:\n  hookstack:aurora: {sweepGraceSeconds: 0x3c}\n",
        "2",
        "`0x3c` is read by YAML as the number 60",
    ),
    # Python converts at most 4,300 decimal digits: PyYAML's ValueError was a traceback.
    "number too long": (
        "config:\n  hookstack:provider:\n    rulesPerBus: " + "9" * 5000 + "\n",
        "3",
        "has a number of more than 4300 digits, which cannot be read",
    ),
    # YAML allows an alias inside the node it names; PyYAML builds a structure that contains itself.
    "recursive alias": (
        "config:\n  hookstack:tenants: &a [*a]\n",
        "2:26",
        "recursive alias *a: it is inside the node anchored &a at line 2",
    ),
    "recursive alias deep inside": (
        "config:\n  hookstack:tenants:\n    - id: a\n      destinations: &d\n        - name: x\n"
        "          url: https://x.example.com/\n          auth: {type: none}\n          headers: {a: *d}\n",
        "8:24",
        "recursive alias *d: it is inside the node anchored &d at line 4, so it would contain itself",
    ),
    "recursive merge key": ("config:\n  hookstack:aurora: &m {enabled: true, <<: *m}\n", "2:44", "recursive alias *m"),
    # "Billion laughs": 7 lines that expand to 9**7 (4.8 million) strings.
    "alias bomb": (
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True))
        + "config:\n  hookstack:tenants: *g\n",
        "6:32",  # the 7th *e of line f: 539,728 values added by then
        "aliases expand to more than 500,000 values",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unusable_stack_files_are_refused_with_file_and_line(tmp_path: Path, name: str) -> None:
    text, line, fragment = REFUSED[name]
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    with pytest.raises(StackConfigError) as caught:
        load_stack_file(str(path))
    assert isinstance(caught.value, StackFileError)
    assert f"{path}:{line}: " in str(caught.value)
    assert fragment in str(caught.value)


def test_files_that_cannot_be_read_are_refused_with_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"config:\n  hookstack:aurora: \xff\n")
    for name, reason in (
        ("missing.yaml", "No such file or directory"),
        ("binary.yaml", "not UTF-8"),
        (".", "Is a directory"),
    ):
        with pytest.raises(StackFileError) as caught:
            read_stack_file(tmp_path / name)
        assert f"{tmp_path / name}: cannot be read: {reason}" in str(caught.value)


def test_other_namespaces_are_ignored_and_hookstack_keys_parse(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.ok.yaml"
    path.write_text(VALID + "  stack:name: far enough from hookstack\n  hook:x: 1\n")
    stack_file = read_stack_file(path)
    assert set(stack_file.values) == {"tenants"}
    assert stack_file.config["aws:region"] == "us-east-1"
    assert stack_file.parse().tenants[0].destinations[0].url == "https://crm.example.com/hooks"


def test_configuration_problems_name_the_line_of_their_value(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(
        VALID.replace("https://crm.example.com/hooks", "http://crm.example.com/hooks")
        + "  hookstack:aurora:\n    enabled: yes-please\n"
    )
    with pytest.raises(StackFileError) as caught:
        load_stack_file(str(path))
    text = str(caught.value)
    assert f"{path}:8: hookstack:tenants[0].destinations[0].url: must be an https:// URL" in text
    assert f"{path}:11: hookstack:aurora.enabled: " in text
    # The bare problems (key path and message, no file) are what the Pulumi program reports too.
    assert [p.path for p in caught.value.problems] == [
        "hookstack:tenants[0].destinations[0].url",
        "hookstack:aurora.enabled",
    ]


def test_a_missing_key_is_located_at_its_parent(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(VALID.replace("        - name: crm\n", "        - nom: crm\n"))
    with pytest.raises(StackFileError) as caught:
        load_stack_file(str(path))
    assert f"{path}:7: hookstack:tenants[0].destinations[0].name: is required" in str(caught.value)


@pytest.mark.parametrize("command", ["up", "plan"])
@pytest.mark.parametrize(
    "name", ["empty", "no config: root", "namespace typo", "yaml syntax", "recursive alias", "alias bomb"]
)
def test_sandbox_commands_refuse_them_with_exit_2_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, name: str
) -> None:
    text, line, fragment = REFUSED[name]
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    extra = ["--state-file", str(tmp_path / "state.json")] if command == "up" else []
    assert main([command, "--config", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: " in err and fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "state.json").exists()


def test_the_process_exits_2_at_once_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.typo.yaml"
    path.write_text(REFUSED["namespace typo"][0])
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "up", "--config", str(path), "--state-file", str(tmp_path / "state.json")],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2, result.stderr
    assert f"{path}:3: hookstak:tenants: unknown namespace" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_yaml_merge_keys_are_allowed_and_absurd_nesting_is_refused(tmp_path: Path) -> None:
    merged = tmp_path / "Pulumi.merge.yaml"
    merged.write_text("config:\n  <<: {hookstack:aurora: {enabled: true}}\n")
    assert load_stack_file(str(merged)).aurora.enabled
    deep = tmp_path / "Pulumi.deep.yaml"
    deep.write_text("config:\n  hookstack:tenants: " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(StackFileError, match="is nested too deeply to read"):
        load_stack_file(str(deep))


def test_aliases_that_share_blocks_are_expanded(tmp_path: Path) -> None:
    """Aliases are for sharing: the same destinations under many tenants, defaults merged in."""
    tenants = "".join(f'    - id: "t{i}"\n      destinations: *shared\n' for i in range(1, 200))
    path = tmp_path / "Pulumi.shared.yaml"
    path.write_text(
        "x-shared: &shared\n  - name: crm\n    url: https://crm.example.com/hooks\n    auth: &none {type: none}\n"
        "  - name: audit\n    url: https://audit.example.com/hooks\n    auth: *none\n"
        'config:\n  hookstack:tenants:\n    - id: "t0"\n      destinations: *shared\n' + tenants
    )
    config = load_stack_file(str(path))
    assert len(config.tenants) == 200
    assert {d.url for t in config.tenants for d in t.destinations} == {
        "https://crm.example.com/hooks",
        "https://audit.example.com/hooks",
    }


def test_alias_expansion_is_capped_at_its_edge(tmp_path: Path) -> None:
    from components.config.stack_file import MAX_ALIAS_VALUES

    def file_with(values: int) -> Path:
        """A 1,000-value list repeated by aliases until they add ``values`` values (plus the tenants list)."""
        path = tmp_path / f"Pulumi.{values}.yaml"
        block = "[" + ", ".join(["x"] * 999) + "]"
        repeats = ", ".join(["*b"] * (values // 1000))
        path.write_text(f"x-block: &b {block}\nconfig:\n  hookstack:aurora: {{enabled: false}}\n  x:y: [{repeats}]\n")
        return path

    assert read_stack_file(file_with(MAX_ALIAS_VALUES)).values == {"aurora": {"enabled": False}}
    with pytest.raises(StackFileError, match="aliases expand to more than 500,000 values"):
        read_stack_file(file_with(MAX_ALIAS_VALUES + 1000))
