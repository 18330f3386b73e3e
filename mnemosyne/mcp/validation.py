"""Check tool arguments against the small part of JSON Schema the tool definitions use.

Supported keywords: type (one name or a list, "integer" excluding booleans), properties,
required, additionalProperties (false only), items, minItems, maxItems, enum, minLength,
maxLength, minimum, maximum. Anything else in a schema is a programming error caught by the
unit tests (`check_schema`), so a schema never promises a check that is not made. Strings must
be valid Unicode (no lone surrogates): they are stored and sent on as UTF-8.
Must not: know what any tool does.
"""

from __future__ import annotations

from typing import Any

from mnemosyne.errors import UsageError

KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "minItems",
            "maxItems", "enum", "minLength", "maxLength", "minimum", "maximum", "description",
            "default", "title"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def _where(path: str) -> str:
    return path or "the arguments"


def validate(value: Any, schema: dict[str, Any], path: str = "") -> None:
    """Check *value* against *schema*. Raises UsageError naming the first problem found."""
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_is_type(value, name) for name in names):
            raise UsageError(f"{_where(path)} must be {' or '.join(names)}, not "
                             f"{_describe(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise UsageError(f"{_where(path)} must be one of {', '.join(map(str, schema['enum']))}, "
                         f"not {value!r}")
    if isinstance(value, str):
        _check_string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise UsageError(f"{_where(path)} must be at least {schema['minimum']}, not {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise UsageError(f"{_where(path)} must be at most {schema['maximum']}, not {value}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise UsageError(f"{_where(path)} needs at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise UsageError(f"{_where(path)} has {len(value)} items: at most "
                             f"{schema['maxItems']} are allowed")
        if "items" in schema:
            for index, item in enumerate(value):
                validate(item, schema["items"], f"{path or 'item'}[{index}]")
    elif isinstance(value, dict):
        _check_object(value, schema, path)


def _check_string(value: str, schema: dict[str, Any], path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{_where(path)} is not valid Unicode text (a lone surrogate)") from None
    if len(value) < schema.get("minLength", 0):
        raise UsageError(f"{_where(path)} must not be empty" if schema["minLength"] == 1
                         else f"{_where(path)} needs at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise UsageError(f"{_where(path)} is longer than {schema['maxLength']} characters")


def _check_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            raise UsageError(f"missing required argument {_join(path, name)!r}")
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            known = ", ".join(properties) or "none"
            raise UsageError(f"unknown argument {_join(path, unknown[0])!r} (known: {known})")
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], _join(path, name))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "an array", str: "a string", int: "an integer",
             float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def check_schema(schema: dict[str, Any], path: str = "schema") -> None:
    """Raise ValueError if *schema* uses a keyword or type `validate` does not check."""
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{path} uses unsupported keywords {sorted(unknown)}")
    expected = schema.get("type")
    for name in [expected] if isinstance(expected, str) else (expected or []):
        if name not in TYPES and name not in ("integer", "number"):
            raise ValueError(f"{path} has unknown type {name!r}")
    if "additionalProperties" in schema and schema["additionalProperties"] is not False \
            and not isinstance(schema["additionalProperties"], dict | bool):
        raise ValueError(f"{path}: additionalProperties must be false or a schema")
    for name, item in schema.get("properties", {}).items():
        check_schema(item, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        check_schema(schema["items"], f"{path}[]")
