"""Frozen records: what ``@dataclass(frozen=True)`` makes, for a fraction of its cost at import.

A frozen dataclass costs 0.3-1 ms to create: the stdlib writes its ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` as source text and compiles each one.
The handlers define 15-23 of them on their cold path: more than half of the instructions the ingest and
the delivery handlers added to ``import boto3`` (``docs/benchmarks/cold-start.md``). :func:`record`
makes the same class from generic methods instead (tens of microseconds): the same constructor
(positional and keyword arguments, defaults, ``field(default_factory=...)``, ``kw_only``,
``__post_init__``), the same ``repr``, equality (same class, field by field), hash and
``FrozenInstanceError``, and the stdlib's own field table, so ``dataclasses.fields``,
``dataclasses.replace``, ``dataclasses.asdict`` and ``dataclasses.is_dataclass`` work on a record
as on a dataclass (type checkers see a frozen dataclass: ``dataclass_transform``). A class that uses
anything else (``ClassVar``/``InitVar`` fields, ``field(init=False)``, its own ``__eq__``...) is made
by ``dataclasses.dataclass`` itself, as is every record when the stdlib lacks the field marker this
module relies on. ``tests/functions/test_records.py`` compares the two.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import MISSING
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")

# What the stdlib marks a proper field with (not a ClassVar or InitVar pseudo-field): fields() and
# replace() read it. Present from Python 3.7 to 3.13; without it every record is a plain dataclass.
_FIELD_MARKER = getattr(dataclasses, "_FIELD", None)
# Methods whose own definition changes what a dataclass generates (or that it refuses): a class
# defining one is left to the stdlib. An own ``__repr__`` (one that hides a secret) is kept, as by it.
_OWN_METHODS = ("__init__", "__eq__", "__hash__", "__setattr__", "__delattr__")
_UNSUPPORTED_ANNOTATIONS = ("ClassVar", "InitVar", "KW_ONLY")


@overload
@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, kw_only: bool = False) -> Callable[[type[_T]], type[_T]]: ...


def record(cls: type[_T] | None = None, /, *, kw_only: bool = False) -> Any:
    """``@dataclass(frozen=True)`` (or ``@dataclass(frozen=True, kw_only=True)``), cheaper to create."""

    def wrap(cls: type[_T]) -> type[_T]:
        return _build(cls, kw_only) or dataclasses.dataclass(frozen=True, kw_only=kw_only)(cls)

    return wrap if cls is None else wrap(cls)


def _build(cls: type[_T], kw_only: bool) -> type[_T] | None:
    """The record, or ``None`` when ``cls`` needs something only ``dataclasses.dataclass`` does."""
    own = cls.__dict__
    if _FIELD_MARKER is None or any(name in own for name in _OWN_METHODS):
        return None
    fields: dict[str, dataclasses.Field[Any]] = {}
    for base in reversed(cls.__mro__[1:]):
        inherited = base.__dict__.get("__dataclass_fields__")
        if inherited:
            if any(field._field_type is not _FIELD_MARKER for field in inherited.values()):
                return None
            fields.update(inherited)
    declared: list[tuple[str, str, dataclasses.Field[Any]]] = []
    for name, annotation in own.get("__annotations__", {}).items():
        if not isinstance(annotation, str) or any(word in annotation for word in _UNSUPPORTED_ANNOTATIONS):
            return None
        default = own.get(name, MISSING)
        field = default if isinstance(default, dataclasses.Field) else dataclasses.field(default=default)
        if not field.init or (field.default is not MISSING and field.default_factory is not MISSING):
            return None
        if field.default is not MISSING and type(field.default).__hash__ is None:
            # As dataclasses.dataclass refuses a list, dict or set shared by every instance.
            raise ValueError(
                f"mutable default {type(field.default)} for field {name} is not allowed: use default_factory"
            )
        declared.append((name, annotation, field))
    for name, annotation, field in declared:
        field.name, field.type = name, annotation
        field._field_type = _FIELD_MARKER  # type: ignore[attr-defined]
        if field.kw_only is MISSING:
            field.kw_only = kw_only
        if isinstance(own.get(name), dataclasses.Field):
            if field.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, field.default)
        fields[name] = field
    _add_methods(cls, fields)
    return cls


def _add_methods(cls: type[Any], fields: dict[str, dataclasses.Field[Any]]) -> None:
    names = tuple(fields)
    positional = tuple(name for name, field in fields.items() if not field.kw_only)
    seen_default = False
    for name in positional:
        has_default = fields[name].default is not MISSING or fields[name].default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        seen_default = seen_default or has_default
    defaults = {name: field.default for name, field in fields.items() if field.default is not MISSING}
    factories: dict[str, Callable[[], Any]] = {
        name: field.default_factory for name, field in fields.items() if field.default_factory is not MISSING
    }
    shown = tuple(name for name, field in fields.items() if field.repr)
    compared = tuple(name for name, field in fields.items() if field.compare)
    hashed = tuple(name for name, field in fields.items() if (field.compare if field.hash is None else field.hash))
    post_init = hasattr(cls, "__post_init__")
    qualname = cls.__qualname__
    field_names = frozenset(names)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(positional):
            raise TypeError(
                f"{qualname}.__init__() takes {len(positional) + 1} positional arguments but {len(args) + 1} were given"
            )
        values = dict(zip(positional, args, strict=False))
        if kwargs:
            if unknown := kwargs.keys() - field_names:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {min(unknown)!r}")
            if repeated := kwargs.keys() & values.keys():
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {min(repeated)!r}")
            values.update(kwargs)
        if kwargs or len(values) < len(names):
            missing = []
            for name in names:
                if name in values:
                    continue
                if name in defaults:
                    values[name] = defaults[name]
                elif name in factories:
                    values[name] = factories[name]()
                else:
                    missing.append(repr(name))
            if missing:
                raise TypeError(
                    f"{qualname}.__init__() missing {len(missing)} required argument(s): {', '.join(missing)}"
                )
            values = {name: values[name] for name in names}  # in field order, as the dataclass sets them
        # What the dataclass's object.__setattr__ calls amount to (no field is a descriptor), at C speed.
        self.__dict__.update(values)
        if post_init:
            self.__post_init__()

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        shown_fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({shown_fields})"

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return tuple(getattr(self, name) for name in compared) == tuple(getattr(other, name) for name in compared)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, name) for name in hashed))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    methods: dict[str, Any] = {
        "__init__": __init__,
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
    }
    if "__repr__" in cls.__dict__:
        del methods["__repr__"]
    for name, method in methods.items():
        method.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, method)
    cls.__dataclass_fields__ = fields
    if "__match_args__" not in cls.__dict__:
        cls.__match_args__ = positional  # type: ignore[misc]
