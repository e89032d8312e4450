"""JSON Schemas of the registry's typed parameters (tool inputs) and results (tool outputs).

A result schema describes exactly what :func:`ipfs_kit_py.operation.to_json` makes
of the dataclass (every field present, ``None`` as null, bytes as base64 text), so
a client validating ``structuredContent`` against ``outputSchema`` accepts it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from ..operation import ParamSpec, Upload

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    bytes: {"type": "string", "contentEncoding": "base64"},
}


def param_schema(p: ParamSpec) -> dict[str, Any]:
    """The JSON Schema of one registry parameter (``Upload`` and ``bytes``: base64 text)."""
    if p.kind in (bytes, Upload):
        out: dict[str, Any] = {"type": "string", "contentEncoding": "base64"}
    elif p.kind is dict:
        out = {"type": "object"}
    elif p.kind is list:
        out = {"type": "array"}
    else:
        out = dict(_SCALARS.get(p.kind, {"type": "string"}))
    if p.kind is int and p.minimum is not None:
        out["minimum"] = p.minimum
    if p.doc:
        out["description"] = p.doc
    if not p.required and p.default is not None and not isinstance(p.default, (dict, list)):
        out["default"] = p.default
    return out


def input_schema(specs: tuple[ParamSpec, ...], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    props = {p.name: param_schema(p) for p in specs if p.name not in skip}
    required = [p.name for p in specs if p.required and p.name not in skip]
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a type hint as ``to_json`` renders its values."""
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [type_schema(a) for a in args if a is not type(None)]
        one = options[0] if len(options) == 1 else {"anyOf": options}
        return {"anyOf": [one, {"type": "null"}]} if type(None) in args else one
    if origin in (list, tuple) or hint in (list, tuple):
        return {"type": "array", "items": type_schema(args[0])} if args else {"type": "array"}
    if origin is dict or hint is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])} if len(args) == 2 else {"type": "object"}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return dataclass_schema(hint)
    return {}  # Any: any JSON value


def dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    return {"type": "object", "properties": {f.name: type_schema(hints[f.name]) for f in fields},
            "required": [f.name for f in fields]}
