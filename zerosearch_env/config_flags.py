"""Config dataclasses as command-line flags: one ``--field-name`` per field, with its help.

Every config of the project (the environment's, the evaluation's, the learner's) is a
dataclass whose fields carry their help text (:func:`setting`). The command line is
generated from those fields, so a setting is declared once: its name, type, default and
help reach ``zerosearch eval --help`` and ``zerosearch train --help`` from the same place.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any


def setting(default: Any, help: str) -> Any:
    """A dataclass field with its default and its help line.

    A mutable default (a dict or a list) is copied for each instance.
    """
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def parse_value(text: str, annotation: Any) -> Any:
    """One flag value parsed with the field's type: ``none``/``null`` for optional fields,
    true/false for booleans, JSON for dicts.

    >>> parse_value("none", int | None), parse_value("3", int), parse_value("off", bool)
    (None, 3, False)
    >>> parse_value('{"base_urls": ["http://gpu1:6001/v1"]}', dict)
    {'base_urls': ['http://gpu1:6001/v1']}
    """
    base, optional = _base_type(annotation)
    if optional and text.lower() in ("none", "null"):
        return None
    if base is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise argparse.ArgumentTypeError(f"expects true or false, got {text!r}")
    if base is dict:
        try:
            value = json.loads(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expects a JSON object, got {text!r}") from error
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"expects a JSON object, got {text!r}")
        return value
    if base is Any:
        return text
    return base(text)


def add_flags(parser: argparse.ArgumentParser, config_type: type, title: str, *, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per field of ``config_type`` (a dataclass), except the
    ``skip``ped ones and nested dataclasses. A flag that is not given is absent from the
    parsed namespace, so it never overrides a preset or a config file."""
    hints = typing.get_type_hints(config_type)
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(config_type):
        annotation = hints[field.name]
        if field.name in skip or dataclasses.is_dataclass(annotation):
            continue
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        base, _ = _base_type(annotation)
        if base is list:  # list[str]: --name a b c
            (item,) = typing.get_args(annotation) or (str,)
            options: dict[str, Any] = {"nargs": "+", "type": item, "metavar": _metavar(item)}
        else:
            options = {"type": lambda text, a=annotation: parse_value(text, a), "metavar": _metavar(annotation)}
        shown = default is None or default == {} or default == []
        group.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=field.name,
            default=argparse.SUPPRESS,
            help=field.metadata["help"] if shown else f"{field.metadata['help']} (default: {default})",
            **options,
        )


def given(args: argparse.Namespace, config_type: type) -> dict[str, Any]:
    """The values of ``config_type``'s fields that were given on the command line."""
    names = {field.name for field in dataclasses.fields(config_type)}
    return {key: value for key, value in vars(args).items() if key in names}


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(the type a flag parses to, whether None is allowed): ``int | None`` -> (int, True),
    ``dict[str, Any]`` -> (dict, False)."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        optional = type(None) in members
        annotation = next(a for a in members if a is not type(None))
    return typing.get_origin(annotation) or annotation, optional


def _metavar(annotation: Any) -> str:
    base, _ = _base_type(annotation)
    return {dict: "JSON", Any: "VALUE"}.get(base) or getattr(base, "__name__", "VALUE").upper()


def key_values(items: list[str], flag: str, command: str) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` flags (``--agent-arg``, ``--reader-arg``) as keyword arguments:
    JSON values where they parse (numbers, true, lists), else the string.

    >>> key_values(["max_searches=1", "model=my-model"], "--agent-arg", "zerosearch eval")
    {'max_searches': 1, 'model': 'my-model'}
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{command}: error: {flag} expects key=value, got {item!r}")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options
