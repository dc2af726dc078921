"""functions.records.record behaves as ``dataclasses.dataclass(frozen=True)`` on the same class body."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

from functions.records import record

calls: list[str] = []


def _pair(body: Callable[[Callable[[type[Any]], type[Any]]], type[Any]]) -> tuple[type[Any], type[Any]]:
    """The class ``body`` defines, made once by the stdlib and once by :func:`record`."""
    return body(dataclasses.dataclass(frozen=True)), body(record)


def _plain(decorate: Callable[[type[Any]], type[Any]]) -> type[Any]:
    @decorate
    class Item:
        """An item."""

        name: str
        size: int = 1
        tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
        secret: str = dataclasses.field(default="", repr=False)
        note: str = dataclasses.field(default="", compare=False)

        @property
        def label(self) -> str:
            return f"{self.name}:{self.size}"

    return Item


def _checked(decorate: Callable[[type[Any]], type[Any]]) -> type[Any]:
    @decorate
    class Checked:
        value: int

        def __post_init__(self) -> None:
            calls.append(f"post_init {self.value}")
            if self.value < 0:
                raise ValueError("value must be >= 0")

    return Checked


def _outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What ``call(*args, **kwargs)`` returns, or the name and text of what it raises."""
    try:
        return "value", call(*args, **kwargs)
    except Exception as error:
        return type(error).__name__, str(error).split(".__init__()")[-1].replace("argument(s)", "")


def test_record_is_not_made_by_the_stdlib() -> None:
    """What makes it cheap: no ``dataclasses.dataclass`` processing (which sets ``__dataclass_params__``)."""
    standard, fast = _pair(_plain)
    assert hasattr(standard, "__dataclass_params__")
    assert not hasattr(fast, "__dataclass_params__")
    assert dataclasses.is_dataclass(fast)


def test_constructor_repr_equality_and_hash_match_the_dataclass() -> None:
    standard, fast = _pair(_plain)
    for args, kwargs in [
        (("a",), {}),
        (("a", 2), {}),
        ((), {"name": "a", "tags": {"k": "v"}, "secret": "s", "note": "n"}),
        (("a", 2, {"k": "v"}, "s", "n"), {}),
    ]:
        one, other = standard(*args, **kwargs), fast(*args, **kwargs)
        assert repr(one) == repr(other)
        assert "secret" not in repr(other)
        assert dataclasses.asdict(one) == dataclasses.asdict(other)
        assert other == fast(*args, **kwargs)
        assert other.label == one.label
        assert _outcome(hash, one) == _outcome(hash, other)  # a dict field: unhashable in both
    assert fast("a", note="x") == fast("a", note="y")  # compare=False
    assert fast("a") != fast("b") and fast("a") != standard("a")  # another class is never equal
    assert fast("a").tags is not fast("a").tags  # one factory call per instance
    assert fast.__match_args__ == standard.__match_args__
    assert fast.__doc__ == "An item."


def test_bad_arguments_fail_as_for_the_dataclass() -> None:
    standard, fast = _pair(_plain)
    bad: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}),
        (("a", 1, {}, "", "", "extra"), {}),
        (("a",), {"name": "b"}),
        (("a",), {"colour": 1}),
    ]
    for args, kwargs in bad:
        expected, got = _outcome(standard, *args, **kwargs), _outcome(fast, *args, **kwargs)
        assert got[0] == expected[0] == "TypeError"
    assert "'name'" in _outcome(fast)[1]
    assert "colour" in _outcome(fast, "a", colour=1)[1]


def test_fields_are_frozen() -> None:
    _, fast = _pair(_plain)
    item = fast("a")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        item.name = "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.other = 1
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'size'"):
        del item.size


def test_dataclasses_functions_work_on_records() -> None:
    standard, fast = _pair(_plain)
    assert [(f.name, f.type, f.default, f.repr, f.compare, f.kw_only) for f in dataclasses.fields(fast)] == [
        (f.name, f.type, f.default, f.repr, f.compare, f.kw_only) for f in dataclasses.fields(standard)
    ]
    changed = dataclasses.replace(fast("a", 2), size=3)
    assert changed == fast("a", 3) and type(changed) is fast
    assert fast.size == 1 and not hasattr(fast, "tags")  # class attributes as the dataclass leaves them


def test_post_init_runs_after_the_fields_are_set() -> None:
    standard, fast = _pair(_checked)
    assert hash(fast(3)) == hash(standard(3)) and fast(3) == fast(3)
    calls.clear()
    assert fast(3).value == 3
    assert calls == ["post_init 3"]
    with pytest.raises(ValueError, match="must be >= 0"):
        fast(-1)
    assert _outcome(dataclasses.replace, fast(1), value=-2) == _outcome(dataclasses.replace, standard(1), value=-2)


def test_keyword_only_records_inherit_fields_and_post_init() -> None:
    """The delivery settings' shape: a keyword-only base with ``__post_init__``, subclasses with fields."""

    @record(kw_only=True)
    class Base:
        def __post_init__(self) -> None:
            calls.append(type(self).__name__)

    @record(kw_only=True)
    class Child(Base):
        table: str = dataclasses.field(default="t", metadata={"variable": "TABLE"})
        required: int

    calls.clear()
    child = Child(required=1)
    assert (child.table, child.required, calls) == ("t", 1, ["Child"])
    assert [f.metadata["variable"] for f in dataclasses.fields(Child) if f.name == "table"] == ["TABLE"]
    assert all(f.kw_only for f in dataclasses.fields(Child))
    with pytest.raises(TypeError):
        Child(1)  # type: ignore[call-arg, arg-type]
    with pytest.raises(TypeError, match="required"):
        Child()  # type: ignore[call-arg]


def test_an_own_repr_is_kept() -> None:
    @record
    class Token:
        value: str

        def __repr__(self) -> str:
            return "Token(value=<hidden>)"

    assert repr(Token("secret")) == "Token(value=<hidden>)"
    assert not hasattr(Token, "__dataclass_params__")


def test_what_a_record_cannot_copy_is_left_to_the_stdlib() -> None:
    @record
    class Counted:
        total: ClassVar[int] = 0
        name: str

    @record
    class OwnEquality:
        name: str

        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return 0

    for cls in (Counted, OwnEquality):
        assert hasattr(cls, "__dataclass_params__")
    assert [f.name for f in dataclasses.fields(Counted)] == ["name"]
    assert OwnEquality("a") == OwnEquality("b")


def test_refusals_match_the_dataclass() -> None:
    with pytest.raises(ValueError, match="mutable default"):

        @record
        class Shared:
            tags: list[str] = []  # the mistake under test

    with pytest.raises(TypeError, match="non-default argument 'name' follows default argument"):

        @record
        class Ordered:
            size: int = 1
            name: str  # type: ignore[misc]


def test_the_handlers_make_their_records_without_the_stdlib() -> None:
    """Every frozen record of the inbound and delivery packages and of every ``functions`` module they
    import (events, metrics, telemetry...) is made by :func:`record`: a ``@dataclass`` there costs each
    cold start 0.3-1 ms (docs/benchmarks/cold-start.md); the publisher's wheel ships ``records.py``."""
    # The modules the two packages load, listed by a fresh interpreter (this one has loaded more).
    script = (
        "import importlib, pkgutil, sys, functions.delivery, functions.inbound\n"
        "for package in (functions.inbound, functions.delivery):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(' '.join(name for name in sys.modules if name.split('.')[0] == 'functions'))\n"
    )
    listed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    modules = [importlib.import_module(name) for name in listed.stdout.split()]
    assert {"functions.events", "functions.metrics", "functions.telemetry"} <= {m.__name__ for m in modules}
    made_by_the_stdlib = [
        f"{module.__name__}.{name}"
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__ and "__dataclass_params__" in vars(value)
    ]
    assert len(modules) > 40
    assert made_by_the_stdlib == []
