"""Reading a stack file (``Pulumi.<stack>.yaml``) outside Pulumi: the sandbox and the tests.

The Pulumi program never reads stack files (the engine does, and hands it the values); ``python -m
sandbox up|plan`` and the tests do, through :func:`read_stack_file` only. Pulumi would quietly run a
file that configures nothing for this program (an empty file, settings outside ``config:``, a typo
in the namespace), so such files are refused here, each problem with the file name and line:

- an empty file, a document that is not a mapping, no ``config:`` key, ``config:`` not a mapping;
- YAML syntax errors (line and column), and a key given twice in one mapping (YAML keeps the last);
- a number under a ``hookstack:`` key that YAML 1.1 reads other than as written (``010``, ``0x3c``,
  ``1_000``, ``1:30``): a tenant id ``010`` would be the tenant ``8``;
- keys that are not ``<namespace>:<key>``, and namespaces within two edits of ``hookstack``
  (``hookstak:tenants``, ``Hookstack:tenants``): other namespaces are legitimate (``aws:region``,
  other providers') and are ignored, but a file with no ``hookstack:`` key at all is refused;
- a recursive alias (``&a [*a]``: an alias inside the node it names, which YAML allows and no
  configuration can be), and aliases that expand to more than :data:`MAX_ALIAS_VALUES` values (a
  "billion laughs" file: a few lines that every later step would walk as millions of values), each
  at the line and column of the alias.

Problems the configuration parser finds are reported with the line of the value they name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config.model import NAMESPACE, ConfigProblem, StackConfig, StackConfigError
from components.config.parser import parse_stack_config

# A namespace this close to ``hookstack`` is a typo, not another provider's settings.
MAX_NAMESPACE_TYPO_EDITS = 2
MERGE_TAG = "tag:yaml.org,2002:merge"
INT_TAG = "tag:yaml.org,2002:int"
# An integer as plain decimal text; YAML 1.1 also reads 010 (octal), 0x3c, 0b11, 1_000 and 1:30 as integers.
DECIMAL_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# What aliases may add to a file: each alias repeats its node's values where it appears. Far above
# sharing blocks among the 3,000 API destinations an account may have; far below what a few nested
# aliases can make (the check costs one pass over the distinct nodes).
MAX_ALIAS_VALUES = 500_000
# Called with (key path, the ``{secure: ...}`` value) for every encrypted value; returns its stand-in.
SecretResolver = Callable[[str, Any], Any]
_PATH_PART_RE = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


class StackFileError(StackConfigError):
    """Problems in a stack file, each shown as ``FILE:LINE: ...`` (``problems`` keeps the bare ones)."""

    def __init__(self, file: str, problems: Sequence[ConfigProblem], lines: Sequence[int | str | None]) -> None:
        super().__init__(problems)
        self.file = file
        self.lines = list(lines)
        located = [
            f"{file}:{line}: {_shown(problem)}" if line else f"{file}: {_shown(problem)}"
            for problem, line in zip(problems, lines, strict=True)
        ]
        listed = "\n".join(f"  - {text}" for text in located)
        self.args = (f"{len(located)} problem(s) in {file}:\n{listed}",)


@dataclass(frozen=True)
class StackFile:
    """A stack file that passed the checks above: its ``config:`` block, and where each value is."""

    path: str
    config: dict[str, Any]  # every key of ``config:``, with its namespace
    _config_node: yaml.MappingNode = field(repr=False)

    @property
    def values(self) -> dict[str, Any]:
        """The ``hookstack:`` keys without the namespace (what ``pulumi.Config("hookstack")`` reads)."""
        return stack_values(self.config)

    def resolved_values(self, secret_resolver: SecretResolver | None = None) -> dict[str, Any]:
        """:attr:`values` with each ``{secure: ...}`` replaced by ``secret_resolver(key_path, value)``."""
        if secret_resolver is None:
            return self.values
        return dict(resolve_secure(self.values, "", secret_resolver))

    def located(self, error: StackConfigError) -> StackFileError:
        """``error``'s problems, each with the line of the value it names in this file."""
        return StackFileError(self.path, error.problems, [self.line_of(p.path) for p in error.problems])

    def parse(self, *, local: bool = False, secret_resolver: SecretResolver | None = None) -> StackConfig:
        """Parse the ``hookstack:`` keys (field and cross-field checks, see
        :func:`components.stack.load_stack_from_file` for the quota checks too); a
        :class:`StackFileError` names the line of every problem.
        """
        try:
            return parse_stack_config(self.resolved_values(secret_resolver), local=local)
        except StackConfigError as error:
            raise self.located(error) from None

    def line_of(self, key_path: str) -> int | None:
        """The line of ``hookstack:tenants[1].url`` (or of the deepest part of it that exists)."""
        head = key_path.split(".", 1)[0].split("[", 1)[0]  # `hookstack:tenants`
        rest = key_path[len(head) :]
        node: yaml.Node | None = _value_node(self._config_node, head)
        if node is None:
            return None
        line: int = node.start_mark.line + 1
        for index, key in _PATH_PART_RE.findall(rest):
            node = _value_node(node, key) if key else _item_node(node, int(index))
            if node is None:
                break
            line = node.start_mark.line + 1
        return line


def load_stack_file(path: str, *, local: bool = False, secret_resolver: SecretResolver | None = None) -> StackConfig:
    """Parse the ``hookstack:`` keys of a ``Pulumi.<stack>.yaml`` file (field and cross-field checks).

    ``secret_resolver(key_path, value)`` is called for every ``{secure: ...}`` value and returns its
    replacement (the sandbox generates local secrets for values it cannot decrypt). Every problem
    names the file and line.
    """
    return read_stack_file(path).parse(local=local, secret_resolver=secret_resolver)


def stack_values(config_block: Mapping[str, Any]) -> dict[str, Any]:
    """The ``hookstack:`` keys of a stack file's ``config:`` block, without the namespace."""
    prefix = f"{NAMESPACE}:"
    return {key[len(prefix) :]: value for key, value in config_block.items() if key.startswith(prefix)}


def resolve_secure(value: Any, path: str, resolver: SecretResolver) -> Any:
    """``value`` with every ``{secure: ...}`` replaced by ``resolver(key_path, that_value)``."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return resolver(path, value)
        return {k: resolve_secure(v, f"{path}.{k}" if path else str(k), resolver) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secure(v, f"{path}[{i}]", resolver) for i, v in enumerate(value)]
    return value


def read_stack_file(path: str | Path) -> StackFile:
    """Read and check a stack file; raise :class:`StackFileError` naming the file and line of each problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError(name, [ConfigProblem("", f"cannot be read: {_reason(error)}")], [None]) from None
    loader = _StackFileLoader(text)
    try:
        document = loader.get_single_node()
        duplicates = list(_duplicate_keys(document, set()))
        if duplicates:
            raise StackFileError(name, [p for p, _ in duplicates], [line for _, line in duplicates])
        data = loader.construct_document(document) if document is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else None
        context = f"{error.context}, " if error.context else ""
        what = "" if isinstance(error, _AliasRefused) else "invalid YAML: "
        raise StackFileError(name, [ConfigProblem("", f"{what}{context}{error.problem}")], [where]) from None
    except yaml.YAMLError as error:
        raise StackFileError(name, [ConfigProblem("", f"invalid YAML: {error}")], [None]) from None
    except RecursionError:
        raise StackFileError(name, [ConfigProblem("", "is nested too deeply to read")], [None]) from None
    except StackFileError:
        raise
    except ValueError:  # an integer of more digits than Python converts
        limit = sys.get_int_max_str_digits()
        long = (n for n in _scalars(document, set()) if n.tag == INT_TAG and len(n.value) > limit)
        line = next((n.start_mark.line + 1 for n in long), None)
        unreadable = ConfigProblem("", f"has a number of more than {limit} digits, which cannot be read")
        raise StackFileError(name, [unreadable], [line]) from None
    finally:
        loader.dispose()

    def refuse(message: str, node: yaml.Node | None, key: str = "") -> StackFileError:
        return StackFileError(name, [ConfigProblem(key, message)], [node.start_mark.line + 1 if node else 1])

    where = f"settings go under a top-level `config:` mapping, as `{NAMESPACE}:<key>: value`"
    if document is None:
        raise refuse(f"the file is empty; {where}", None)
    if not isinstance(document, yaml.MappingNode) or not isinstance(data, dict):
        raise refuse(f"must be a mapping with a top-level `config:` key, got {_node_kind(document)}", document)
    config_key, config_node = _entry(document, "config") or (None, None)
    if config_key is None or config_node is None:
        misplaced = [
            k for k, _ in document.value if isinstance(k, yaml.ScalarNode) and k.value.startswith(f"{NAMESPACE}:")
        ]
        if misplaced:
            raise refuse(f"must be under `config:` ({where})", misplaced[0], misplaced[0].value)
        raise refuse(f"has no top-level `config:` key; {where}", document)
    config = data["config"]
    if config is None:
        raise refuse(f"is empty; {where}", config_key, "config")
    if not isinstance(config_node, yaml.MappingNode) or not isinstance(config, dict):
        raise refuse(
            f"must be a mapping of `<namespace>:<key>: value` settings, got {_node_kind(config_node)}",
            config_key,
            "config",
        )

    problems: list[ConfigProblem] = []
    lines: list[int | str | None] = []
    for key_node, _ in config_node.value:
        problem = _key_problem(key_node)
        if problem:
            problems.append(problem)
            lines.append(key_node.start_mark.line + 1)
    for key_node, value_node in config_node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value.startswith(f"{NAMESPACE}:"):
            for node in _scalars(value_node, set()):  # 010 is 8, 1:30 is 90: a tenant id would become another
                if node.tag == INT_TAG and node.style is None and not DECIMAL_INT_RE.fullmatch(node.value):
                    problems.append(
                        ConfigProblem(
                            "",
                            f"`{node.value}` is read by YAML as the number {yaml.safe_load(node.value)} (write it in "
                            f"decimal, or quote it ('{node.value}') if it is text)",
                        )
                    )
                    lines.append(node.start_mark.line + 1)
    if not problems and not any(isinstance(k, str) and k.startswith(f"{NAMESPACE}:") for k in config):
        problems.append(ConfigProblem("config", f"has no `{NAMESPACE}:` keys, so it configures nothing ({where})"))
        lines.append(config_key.start_mark.line + 1)
    if problems:
        raise StackFileError(name, problems, lines)
    return StackFile(name, config, config_node)


class _AliasRefused(yaml.composer.ComposerError):  # type: ignore[misc,unused-ignore]  # PyYAML ships no types (strict: subclass of Any)
    """Valid YAML this loader will not expand: a recursive alias, or aliases that expand too far."""


class _StackFileLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]  # PyYAML ships no types (strict: subclass of Any)
    """PyYAML's safe loader, refusing recursive aliases and alias expansion bombs as it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_anchors: dict[str, Any] = {}  # anchor -> the mark of the node being composed
        self._expanded_sizes: dict[int, int] = {}  # id(node) -> values it stands for, aliases expanded
        self._alias_values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            opened = self._open_anchors.get(event.anchor)
            if opened is not None:
                raise _AliasRefused(
                    None,
                    None,
                    f"recursive alias *{event.anchor}: it is inside the node anchored &{event.anchor} at line "
                    f"{opened.line + 1}, so it would contain itself",
                    event.start_mark,
                )
            node = super().compose_node(parent, index)
            self._alias_values += _expanded_size(node, self._expanded_sizes)
            if self._alias_values > MAX_ALIAS_VALUES:
                raise _AliasRefused(
                    None,
                    None,
                    f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (nested aliases repeat their "
                    "nodes: write the values out, or share less)",
                    event.start_mark,
                )
            return node
        anchor = event.anchor
        if anchor is not None and anchor not in self._open_anchors:  # a duplicate is PyYAML's to refuse
            self._open_anchors[anchor] = event.start_mark
            try:
                return super().compose_node(parent, index)
            finally:
                del self._open_anchors[anchor]
        return super().compose_node(parent, index)


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias in it is expanded (memoised per node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    size = 1 + sum(_expanded_size(child, sizes) for child in children)
    sizes[id(node)] = size
    return size


def _key_problem(key_node: yaml.Node) -> ConfigProblem | None:
    if key_node.tag == MERGE_TAG:  # `<<: *defaults` brings keys in; those are checked by the parser
        return None
    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
        return ConfigProblem(
            "config", f"key {_node_kind(key_node)} is not `<namespace>:<key>` (e.g. `{NAMESPACE}:tenants`)"
        )
    key = key_node.value
    if ":" not in key:
        return ConfigProblem(key, f"keys are `<namespace>:<key>`; did you mean `{NAMESPACE}:{key}`?")
    namespace, _, rest = key.partition(":")
    if namespace != NAMESPACE and _edits(namespace.lower(), NAMESPACE) <= MAX_NAMESPACE_TYPO_EDITS:
        return ConfigProblem(key, f"unknown namespace `{namespace}`; did you mean `{NAMESPACE}:{rest}`?")
    return None


def _duplicate_keys(node: yaml.Node | None, seen: set[int]) -> Iterator[tuple[ConfigProblem, int]]:
    """Keys given twice in one mapping, at any depth (YAML would silently keep the last)."""
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:
                line = key_node.start_mark.line + 1
                identity = (key_node.tag, key_node.value)
                if identity in first:
                    yield (
                        ConfigProblem(
                            "", f"`{key_node.value}` is given twice in one mapping (first at line {first[identity]})"
                        ),
                        line,
                    )
                else:
                    first[identity] = line
            yield from _duplicate_keys(value_node, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item, seen)


def _scalars(node: yaml.Node, seen: set[int]) -> Iterator[yaml.ScalarNode]:
    """Every scalar value under ``node`` (mapping values, list items), each node once."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        yield node
    for child in [v for _, v in node.value] if isinstance(node, yaml.MappingNode) else []:
        yield from _scalars(child, seen)
    for child in node.value if isinstance(node, yaml.SequenceNode) else []:
        yield from _scalars(child, seen)


def _entry(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key node, value node) of ``key`` in a mapping node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node, value_node
    return None


def _value_node(node: yaml.Node, key: str) -> yaml.Node | None:
    entry = _entry(node, key)
    return entry[1] if entry else None


def _item_node(node: yaml.Node, index: int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and 0 <= index < len(node.value):
        return node.value[index]
    return None


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return f"{node.value[:40]!r}"


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _shown(problem: ConfigProblem) -> str:
    return str(problem) if problem.path else problem.message


def _reason(error: OSError | UnicodeDecodeError) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.start})"
    return error.strerror or str(error)
