"""A small JSON Schema (2020-12) checker for the keywords our documented schemas use.

`jsonschema` is not installed here; this checks type, const, enum, pattern, minimum, required,
properties, additionalProperties and items — and refuses a schema using any other keyword, so a
schema can never pass by using a keyword this checker would silently skip.
"""

from __future__ import annotations

import re
from typing import Any

ANNOTATIONS = {"$schema", "$id", "title", "description"}
CHECKED = {"type", "const", "enum", "pattern", "minimum", "required", "properties", "additionalProperties", "items"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def problems(instance: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    unknown = set(schema) - ANNOTATIONS - CHECKED
    if unknown:
        raise ValueError(f"{path}: the checker does not know {sorted(unknown)}")
    found: list[str] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[k](instance) for k in kinds):
            return [f"{path}: {instance!r} is not {kinds}"]
    if "const" in schema and instance != schema["const"]:
        found.append(f"{path}: {instance!r} is not {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{path}: {instance!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(instance, str) and not re.search(schema["pattern"], instance):
        found.append(f"{path}: {instance!r} does not match {schema['pattern']}")
    if "minimum" in schema and TYPES["number"](instance) and instance < schema["minimum"]:
        found.append(f"{path}: {instance!r} < {schema['minimum']}")
    if isinstance(instance, dict):
        for name in schema.get("required", []):
            if name not in instance:
                found.append(f"{path}: {name!r} is required")
        properties = schema.get("properties", {})
        for name, value in instance.items():
            if name in properties:
                found += problems(value, properties[name], f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{path}: {name!r} is not allowed")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            found += problems(item, schema["items"], f"{path}[{i}]")
    return found
