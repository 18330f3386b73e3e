import pytest

from mnemosyne.errors import UsageError
from mnemosyne.mcp.tools import TOOLS
from mnemosyne.mcp.validation import check_schema, validate

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name"],
          "properties": {
              "name": {"type": "string", "minLength": 1, "maxLength": 5},
              "count": {"type": "integer", "minimum": 1, "maximum": 3},
              "ratio": {"type": "number"},
              "flag": {"type": "boolean"},
              "kind": {"type": "string", "enum": ["a", "b"]},
              "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2,
                       "minItems": 1},
              "maybe": {"type": ["string", "null"]},
              "nested": {"type": "object", "additionalProperties": False,
                         "properties": {"x": {"type": "integer"}}},
          }}


def test_valid_values_pass():
    validate({"name": "ab", "count": 2, "ratio": 0.5, "flag": True, "kind": "a",
              "tags": ["t"], "maybe": None, "nested": {"x": 1}}, SCHEMA)


@pytest.mark.parametrize(("value", "fragment"), [
    ({}, "missing required argument 'name'"),
    ({"name": "a", "other": 1}, "unknown argument 'other'"),
    ({"name": 5}, "name must be string, not an integer"),
    ({"name": ""}, "name must not be empty"),
    ({"name": "toolong"}, "longer than 5"),
    ({"name": "\ud800"}, "lone surrogate"),
    ({"name": "a", "count": True}, "count must be integer, not a boolean"),
    ({"name": "a", "count": 1.5}, "count must be integer"),
    ({"name": "a", "count": 0}, "at least 1"),
    ({"name": "a", "count": 4}, "at most 3"),
    ({"name": "a", "ratio": "x"}, "ratio must be number"),
    ({"name": "a", "kind": "c"}, "kind must be one of a, b"),
    ({"name": "a", "tags": []}, "at least 1 item"),
    ({"name": "a", "tags": ["a", "b", "c"]}, "at most 2"),
    ({"name": "a", "tags": [1]}, "tags[0] must be string"),
    ({"name": "a", "maybe": 1}, "maybe must be string or null"),
    ({"name": "a", "nested": {"y": 1}}, "unknown argument 'nested.y'"),
    ([], "the arguments must be object, not an array"),
])
def test_invalid_values_name_the_problem(value, fragment):
    with pytest.raises(UsageError) as caught:
        validate(value, SCHEMA)
    assert fragment in caught.value.message


def test_every_tool_schema_uses_only_checked_keywords():
    check_schema(SCHEMA)
    for tool in TOOLS:
        check_schema(tool.input_schema, tool.name)
        assert tool.input_schema["additionalProperties"] is False, tool.name
        check_schema(tool.output_schema, f"{tool.name} output")


def test_check_schema_refuses_unchecked_keywords():
    with pytest.raises(ValueError, match="pattern"):
        check_schema({"type": "string", "pattern": "x"})
    with pytest.raises(ValueError, match="unknown type"):
        check_schema({"type": "date"})
