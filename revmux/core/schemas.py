"""Configs and result files checked against the JSON schemas shipped in the package (revmux/schemas/),
with errors that name the file and field."""

from __future__ import annotations

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
def _validator(name: str) -> jsonschema.protocols.Validator:
    path = schema_path(name)
    if not path.is_file():
        raise RevmuxError(f"schema {path} is missing: reinstall the package (`pip install .`)")
    schema = yaml.safe_load(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


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
