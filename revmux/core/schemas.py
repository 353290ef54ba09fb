"""Configs and result files checked against the JSON schemas shipped in the package (revmux/schemas/),
with errors that name the file and field."""

from __future__ import annotations

import copy
import importlib.resources
import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from revmux.core.errors import RevmuxError


def schema_path(name: str) -> Path:
    """The file of schema `name` (config, metrics, speed), inside the installed package."""
    return Path(str(importlib.resources.files("revmux") / "schemas" / f"{name}.schema.yaml"))


@lru_cache(maxsize=None)
def _validator(name: str, fill_defaults: bool = False) -> jsonschema.protocols.Validator:
    path = schema_path(name)
    if not path.is_file():
        raise RevmuxError(f"schema {path} is missing: reinstall the package (`pip install .`)")
    schema = yaml.safe_load(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return (_filling_defaults(cls) if fill_defaults else cls)(schema)


def _filling_defaults(cls: type) -> type:
    """The validator of snakemake.utils.validate(..., set_default=True): each `properties` keyword first gives
    the object every missing key that has a schema default, so the blocks it adds get their own defaults too."""
    check_properties = cls.VALIDATORS["properties"]

    def fill_then_check(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for key, subschema in properties.items():
                if "default" in subschema:
                    # a copy: the schema is cached, and a default block is filled in place
                    instance.setdefault(key, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": fill_then_check})


def schema_errors(data: object, name: str, fill_defaults: bool = False) -> list[jsonschema.ValidationError]:
    """Every way `data` breaks schema `name`; with fill_defaults, `data` first gets the schema's defaults
    in place (as Snakemake's validate does for a workflow configuration)."""
    return list(_validator(name, fill_defaults).iter_errors(data))


def schema_of(name: str) -> dict:
    """Schema `name` as a mapping (for the words of an error message)."""
    return _validator(name).schema


def check_result(data: object, name: str, source: str | Path) -> None:
    """Raise RevmuxError naming `source`, the failing field and the problem if `data` breaks schema `name`."""
    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(data))
    if error is not None:
        field = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise RevmuxError(f"{source}: not a valid {name} result at {field}: {error.message}")


def load_result(path: Path, name: str) -> dict:
    """Read a JSON result and check it against schema `name`."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RevmuxError(f"{path}: no such result file") from None
    except json.JSONDecodeError as error:
        raise RevmuxError(f"{path}: not valid JSON ({error}); delete it and rerun the job that writes it") from None
    check_result(data, name, path)
    return data
