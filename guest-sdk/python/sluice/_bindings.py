"""The bindings componentize-py generates for the component's world, imported with the SDK.

componentize-py runs the component's top level when it builds it and snapshots the result,
so what is imported here costs a request nothing; a module first imported inside a request
is loaded and compiled then, which can take a Python instance past the host's CPU budget
per call. What the world lacks (an actor's has no `events` or `actors`), and everything
outside a component (the doctests), is `None`.
"""

import importlib
from types import ModuleType
from typing import Optional


def _load(name: str) -> Optional[ModuleType]:
    """The module `name`, or `None` where it does not exist.

    >>> _load("json").__name__, _load("wit_world.imports.no_such_interface")
    ('json', None)
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


runtime_types = _load("componentize_py_types")
types = _load("wit_world.imports.types")
events = _load("wit_world.imports.events")
query = _load("wit_world.imports.query")
actors = _load("wit_world.imports.actors")
host = _load("wit_world.imports.host")
handler = _load("wit_world.exports.handler")
actor_handler = _load("wit_world.exports.actor_handler")


def err_type() -> type:
    """The exception componentize-py raises for a `result` error and expects for one."""
    return runtime_types.Err  # type: ignore[union-attr]
