"""Plug-ins chosen by name (multiplexing methods; later schedulers and cache policies): one module per
plug-in in one package, so that adding one is adding one file.

A registry answers "which names exist, and what are their fixed traits" from the modules' source text,
without importing them: the workflow checks a configuration before any job, and a plug-in module may
import torch, which a dry run must not load. Each plug-in class states its name and traits as literal
class attributes (`name = "revmux"`, `multiplexes = False`); `get` imports the module only when the
class itself is needed, and `register` (the class decorator) makes the imported class findable.
"""

from __future__ import annotations

import ast
import importlib
import importlib.resources
from dataclasses import dataclass
from functools import cached_property

from revmux.core.errors import RevmuxError


@dataclass(frozen=True)
class Entry:
    name: str
    module: str
    traits: dict  # the literal class attributes, over the registry's defaults


def _literal_class_attributes(node: ast.ClassDef) -> dict:
    attributes = {}
    for statement in node.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                attributes[target.id] = ast.literal_eval(value)
            except ValueError:
                pass  # not a literal (a method, a computed value): not a trait
    return attributes


class Registry:
    def __init__(self, kind: str, package: str, defaults: dict | None = None, aliases: dict[str, str] | None = None):
        self.kind = kind  # "method", "scheduler", ...: used in messages
        self.package = package
        self.defaults = defaults or {}
        self.aliases = aliases or {}  # old or familiar name -> registered name
        self._classes: dict[str, type] = {}

    @cached_property
    def entries(self) -> dict[str, Entry]:
        """Every class in the package's modules with a literal `name`, read from the source."""
        classes = {}  # class name -> (module, its own literal attributes, base class names)
        for resource in sorted(importlib.resources.files(self.package).iterdir(), key=lambda r: r.name):
            if not resource.name.endswith(".py") or resource.name.startswith("_"):
                continue
            module = f"{self.package}.{resource.name[:-3]}"
            for node in ast.parse(resource.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
                    classes[node.name] = (module, _literal_class_attributes(node), bases)

        def inherited(class_name: str) -> dict:  # traits a class takes from its bases in this package
            if class_name not in classes:
                return {}
            _, own, bases = classes[class_name]
            merged = {}
            for base in reversed(bases):
                merged.update(inherited(base))
            return {**merged, **own}

        found = {}
        for class_name, (module, own, _) in classes.items():
            if isinstance(own.get("name"), str):
                found[own["name"]] = Entry(own["name"], module, {**self.defaults, **inherited(class_name)})
        return found

    def names(self) -> list[str]:
        return sorted(self.entries)

    def canonical(self, name: str) -> str:
        """The registered name for `name` or its alias; an unknown name is an error that lists the known ones."""
        name = self.aliases.get(name, name)
        if name not in self.entries:
            known = ", ".join(self.names())
            aliases = ", ".join(f"{alias} (= {target})" for alias, target in self.aliases.items())
            raise RevmuxError(f"unknown {self.kind} {name!r}: use one of {known}" + (f"; aliases: {aliases}" if aliases else ""))
        return name

    def traits(self, name: str) -> dict:
        return self.entries[self.canonical(name)].traits

    def register(self, cls: type) -> type:
        self._classes[cls.name] = cls
        return cls

    def get(self, name: str) -> type:
        """The plug-in class (imports its module)."""
        name = self.canonical(name)
        if name not in self._classes:
            importlib.import_module(self.entries[name].module)
        return self._classes[name]
