"""Result files checked against the JSON schemas in workflow/schemas/, with errors that name the file and field."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from revmux.errors import RevmuxError
from revmux.paths import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "workflow" / "schemas"


@lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.protocols.Validator:
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    if not path.is_file():
        raise RevmuxError(f"schema {path} is missing: run from a complete checkout of the project")
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
