"""The workflow configuration's shape, checked against revmux/schemas/config.schema.yaml, with an error a
user can act on: the key path, the problem, and what would be right (a close key name, or the allowed
values in words), instead of jsonschema's dump of the whole configuration and schema."""

from __future__ import annotations

import difflib
import json

from jsonschema import ValidationError
from jsonschema.exceptions import best_match

from revmux.core.schemas import schema_errors, schema_of
from revmux.workflow.multiplexing import ConfigError

SCHEMA = "config"
# Errors of a oneOf/anyOf branch that say the value is of another kind than the branch takes: when every
# branch has one, no branch was meant and the message lists them all.
_KIND_ERRORS = {"type", "const", "enum"}


def check_shape(config: dict) -> None:
    """Fill the schema's defaults into `config` in place (as snakemake.utils.validate(set_default=True) does),
    then raise ConfigError naming the first key whose name or value the schema refuses."""
    errors = schema_errors(config, SCHEMA, fill_defaults=True)
    if errors:
        raise ConfigError(explain(_first(errors)))


def _first(errors: list[ValidationError]) -> ValidationError:
    """A misspelt key first (it explains a missing one beside it); else jsonschema's best match, taken into
    the oneOf/anyOf branch the value was meant for when one fits its kind."""
    unknown = [error for error in errors if error.validator == "additionalProperties"]
    error = unknown[0] if unknown else best_match(errors)
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[int, list[ValidationError]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        fitting = [branch for branch in branches.values()
                   if not any(inner.validator in _KIND_ERRORS and not inner.relative_path for inner in branch)]
        if len(fitting) == 1:
            return _first(fitting[0])
    return error


def explain(error: ValidationError) -> str:
    """One line: `config key <path>: <problem>; <what would be right>`."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        key = next(key for key in error.instance if key not in known)
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = (f"did you mean {_key(path + close)}?" if close
                else f"the keys {'of ' + _key(path) if path else 'at the top level'} are {', '.join(known)}")
        return f"config key {_key(path + [key])}: unknown key; {hint}"
    if error.validator == "required":
        key = next(key for key in error.validator_value if key not in error.instance)
        expected = words(error.schema.get("properties", {}).get(key, {}))
        return f"config key {_key(path + [key])}: missing; give {expected}"
    key = _key(path) or "(the whole configuration)"
    return f"config key {key}: got {_shown(error.instance)}; expected {words(error.schema)}"


def words(schema: dict, plural: bool = False) -> str:
    """What a schema allows, in words: "an integer >= 1, or a mapping of rule name to an integer >= 1".
    A schema's `title`, where it has one, is its words."""
    schema = _resolved(schema)
    if "title" in schema:
        return schema["title"]
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_literal(value) for value in schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return ", or ".join(words(branch, plural) for branch in schema[combinator])
    types = schema.get("type", [])
    kinds = [types] if isinstance(types, str) else types
    return " or ".join(_type_words(kind, schema, plural) for kind in kinds) or "any value"


def _type_words(kind: str, schema: dict, plural: bool) -> str:
    if kind in ("integer", "number"):
        return _a(kind, plural) + _bounds(schema)
    if kind == "string":
        return _a("string", plural) + (f" matching {schema['pattern']}" if "pattern" in schema else "")
    if kind == "array":
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        items = words(schema.get("items", {}), plural=True)
        if low == high:
            return f"{_a('list', plural)} of {low} {items}"
        return f"{_a('non-empty list' if low else 'list', plural)} of {items}"
    if kind == "object":
        lead = _a("non-empty mapping" if schema.get("minProperties") else "mapping", plural)
        if isinstance(schema.get("additionalProperties"), dict):
            return f"{lead} of name to {words(schema['additionalProperties'])}"
        required = schema.get("required", [])
        keys = [f"{key} (required)" if key in required else key for key in schema.get("properties", {})]
        return f"{lead} with keys {', '.join(keys)}" if keys else lead
    return {"boolean": "true or false", "null": "null"}.get(kind, kind)


def _a(noun: str, plural: bool) -> str:
    return f"{noun}s" if plural else f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _bounds(schema: dict) -> str:
    if "minimum" in schema and "maximum" in schema:
        return f" in [{schema['minimum']}, {schema['maximum']}]"
    signs = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
    bounds = [f"{sign} {schema[key]}" for key, sign in signs if key in schema]
    return f" {' and '.join(bounds)}" if bounds else ""


def _resolved(schema: dict) -> dict:
    """The schema with its local `$ref` (the only kind the config schema uses) merged in."""
    if "$ref" not in schema:
        return schema
    target = schema_of(SCHEMA)
    for part in schema["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolved(target), **{key: value for key, value in schema.items() if key != "$ref"}}


def _key(path: list) -> str:
    """A key path as the README and the other errors write it: speed.shapes.t5-small, seeds[1]."""
    return "".join(f"[{part}]" if isinstance(part, int) else f"{'.' if index else ''}{part}"
                   for index, part in enumerate(path))


def _literal(value: object) -> str:
    """A value as a YAML user writes it (true, null, [2, 4]), a string quoted so its spaces show."""
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _shown(value: object, limit: int = 60) -> str:
    text = _literal(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
