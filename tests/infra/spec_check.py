"""What a Bicep compiler would check against the resource types, done without one: every resource
the templates declare is looked up by type and API version in excerpts of that version's REST API
specification (tests/infra/specs/*.json, copied from Azure/azure-rest-api-specs), and the body it
sets is walked against the schema: property names, value types, enum values, read-only and
required properties.

The templates come parsed by pycep (tests/infra/bicep_dump.py). pycep writes a parameter or
variable reference and a string literal the same way (a bare string), so a string naming a
declared symbol is taken as that symbol: a variable is followed to its value, a parameter stands
for its declared type and its @allowed values, anything else (resource and module symbols, loop
items, functions, operators) is an expression of unknown value whose property names around it are
still checked. A conditional is checked on both branches, union() on each object it merges, and
`item.field` in a loop over a variable array on that field of every element.

Enum values are held to the list in the specification even where the specification marks the enum
extensible (x-ms-enum modelAsString): a value the API version does not list is far more often a
typo than a new value, and ARM drops or rejects what it does not know only at deployment.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPECS = Path(__file__).with_name("specs")

# Keys of a Bicep resource body that Bicep itself consumes; they are not part of the REST body
# (name is, but read-only there: Bicep puts it in the URL).
BICEP_KEYS = frozenset({"name", "parent", "scope", "dependsOn"})

# pycep function names whose result is a string, whatever their arguments.
STRING_FUNCTIONS = frozenset(
    {
        "concat",
        "format",
        "guid",
        "replace",
        "resource_id",
        "string",
        "subscription_resource_id",
        "substring",
        "take",
        "to_lower",
        "to_upper",
        "unique_string",
    }
)

PARAM_TYPES = {"string": str, "int": int, "bool": bool, "object": dict, "array": list}
SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "object": (dict,),
    "array": (list,),
}


@dataclass(frozen=True)
class Finding:
    resource: str  # e.g. "infra/modules/storage.bicep: storage (Microsoft.Storage/storageAccounts@2023-05-01)"
    path: str  # e.g. "properties.minimumTlsVersion"
    problem: str

    def __str__(self) -> str:
        return f"{self.resource} {self.path}: {self.problem}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    properties: int = 0  # property names looked up in a schema, over all resources


class MissingDefinition(Exception):
    pass


@dataclass(frozen=True)
class Body:
    """Where a resource type's REST body is defined: one excerpt's definitions and the name of
    the definition (or, for types whose body depends on the resource name, name -> definition)."""

    definitions: dict[str, Any]
    definition: str | dict[str, str]
    excerpt: str


def load_excerpts(directory: Path = SPECS) -> dict[str, Body]:
    """{'Type@api-version': Body} from every excerpt file; a type in two files is an error."""
    bodies: dict[str, Body] = {}
    for path in sorted(directory.glob("*.json")):
        excerpt = json.loads(path.read_text(encoding="utf-8"))
        for type_version, definition in excerpt["resources"].items():
            if type_version in bodies:
                raise ValueError(f"{type_version} is in both {bodies[type_version].excerpt} and {path.name}")
            bodies[type_version] = Body(excerpt["definitions"], definition, path.name)
    return bodies


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """A schema node with $ref and allOf resolved: what a value placed there may be."""

    type: str | None
    properties: dict[str, Any]
    required: frozenset[str]
    additional: Any  # a schema node, True (anything), or None (no other keys)
    items: Any
    enum: tuple[Any, ...] | None
    read_only: bool

    @property
    def is_object(self) -> bool:
        return self.type == "object" or bool(self.properties) or self.additional is not None


def resolve(definitions: dict[str, Any], node: dict[str, Any]) -> Schema:
    required: set[str] = set(node.get("required", []))
    read_only = bool(node.get("readOnly"))
    seen: set[str] = set()
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in definitions:
            raise MissingDefinition(name)
        if name in seen:
            raise ValueError(f"$ref cycle at {name}")
        seen.add(name)
        # Keys beside a $ref (readOnly, required) add to the definition it points at.
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**definitions[name], **rest}
        required |= set(node.get("required", []))
        read_only = read_only or bool(node.get("readOnly"))
    properties: dict[str, Any] = {}
    for parent in node.get("allOf", []):
        inherited = resolve(definitions, parent)
        properties.update(inherited.properties)
        required |= inherited.required
    properties.update(node.get("properties", {}))
    enum = node.get("enum")
    return Schema(
        type=node.get("type"),
        properties=properties,
        required=frozenset(required),
        additional=node.get("additionalProperties"),
        items=node.get("items"),
        enum=tuple(enum) if enum is not None else None,
        read_only=read_only,
    )


def accepts_type(schema: Schema, python_type: type) -> bool:
    if schema.type is None:
        return python_type is dict if schema.is_object else True
    allowed = SPEC_TYPES.get(schema.type, (object,))
    if python_type is bool:  # bool is an int in Python, never in JSON
        return bool in allowed
    return any(issubclass(python_type, t) and t is not bool for t in allowed)


# ---------------------------------------------------------------------------------------------
# Template values
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The symbols a value in one template can name, and the loop it sits in."""

    template: dict[str, Any]
    loop_items: dict[str, Any] = field(default_factory=dict)  # item name -> the array expression

    def variable(self, name: str) -> Any:
        return self.template.get("variables", {})[name]["value"]

    def is_variable(self, name: str) -> bool:
        return name in self.template.get("variables", {})

    def parameter(self, name: str) -> dict[str, Any] | None:
        return self.template.get("parameters", {}).get(name)

    def is_symbol(self, name: str) -> bool:
        return any(name in self.template.get(kind, {}) for kind in ("resources", "modules"))


@dataclass(frozen=True)
class Literal:
    value: Any
    partial: bool = False  # one object of a union(): other keys come from elsewhere


@dataclass(frozen=True)
class Typed:
    python_type: type
    allowed: tuple[Any, ...] = ()
    source: str = ""


UNKNOWN = Typed(object)


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def expression(value: Any) -> tuple[str, dict[str, Any]] | None:
    """('operator' | 'function', body) when a pycep dict is an expression, not an object literal."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, body),) = value.items()
        if kind == "operator" and isinstance(body, dict) and {"type", "operands"} <= set(body):
            return kind, body
        if kind == "function" and isinstance(body, dict) and {"type", "parameters"} <= set(body):
            return kind, body
    return None


def alternatives(value: Any, scope: Scope, depth: int = 0) -> Iterator[Literal | Typed]:
    """What a template value may be: literals where the template fixes them, else types."""
    if depth > 20:
        yield UNKNOWN
        return
    if value is None:
        yield UNKNOWN
    elif isinstance(value, str):
        if "${" in value:
            yield Typed(str)
        elif value in scope.loop_items or scope.is_symbol(value):
            yield UNKNOWN
        elif scope.is_variable(value):
            yield from alternatives(scope.variable(value), scope, depth + 1)
        elif (declaration := scope.parameter(value)) is not None:
            decorators = {d["type"]: d.get("argument") for d in declaration.get("decorators", [])}
            yield Typed(
                PARAM_TYPES.get(declaration.get("type", ""), object),
                tuple(decorators.get("allowed") or ()),
                f"parameter {value}",
            )
        else:
            yield Literal(value)
    elif (found := expression(value)) is not None:
        yield from expression_alternatives(*found, scope, depth)
    else:
        yield Literal(value)


def expression_alternatives(kind: str, body: dict[str, Any], scope: Scope, depth: int) -> Iterator[Literal | Typed]:
    if kind == "function":
        if body["type"] == "union":
            for argument in body["parameters"].values():
                for alternative in alternatives(argument, scope, depth + 1):
                    if isinstance(alternative, Literal) and isinstance(alternative.value, dict):
                        yield Literal(alternative.value, partial=True)
                    else:
                        yield Typed(dict)
        elif body["type"] in STRING_FUNCTIONS:
            yield Typed(str)
        else:
            yield UNKNOWN
        return
    operands = body["operands"]
    if body["type"] == "conditional":
        yield from alternatives(operands["true_value"], scope, depth + 1)
        yield from alternatives(operands["false_value"], scope, depth + 1)
    elif body["type"] == "property_accessor" and all(isinstance(o, str) for o in operands.values()):
        yield from field_alternatives(operands["operand_1"], operands["operand_2"], scope, depth)
    elif (misplaced := trailing_conditional(body)) is not None:
        # pycep binds `?:` tighter than `!`, `&&` and `==`: `!a && b == 'x' ? [..] : []` comes
        # out as not(and(a, equals(b, conditional('x', [..], [])))). In Bicep `?:` binds
        # loosest, so such a value is the conditional's two branches.
        yield from alternatives(misplaced["true_value"], scope, depth + 1)
        yield from alternatives(misplaced["false_value"], scope, depth + 1)
    else:
        yield UNKNOWN


def trailing_conditional(body: dict[str, Any]) -> dict[str, Any] | None:
    """The operands of a conditional at the end of an operator's last-operand chain, if any."""
    while body["operands"]:
        last = list(body["operands"].values())[-1]
        found = expression(last)
        if found is None or found[0] != "operator":
            return None
        body = found[1]
        if body["type"] == "conditional":
            operands: dict[str, Any] = body["operands"]
            return operands
    return None


def field_alternatives(base: str, name: str, scope: Scope, depth: int) -> Iterator[Literal | Typed]:
    """`base.name` where base is a loop item over a variable array, or a variable object."""
    if base in scope.loop_items:
        array = scope.loop_items[base]
        elements = [a.value for a in alternatives(array, scope, depth + 1) if isinstance(a, Literal)]
        if len(elements) == 1 and isinstance(elements[0], list):
            for element in elements[0]:
                if isinstance(element, dict) and name in element:
                    yield from alternatives(element[name], scope, depth + 1)
                else:
                    yield UNKNOWN
            return
    elif scope.is_variable(base):
        target = scope.variable(base)
        if isinstance(target, dict) and expression(target) is None and name in target:
            yield from alternatives(target[name], scope, depth + 1)
            return
    yield UNKNOWN


# ---------------------------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------------------------


@dataclass
class Checker:
    resource: str
    definitions: dict[str, Any]
    scope: Scope
    report_to: Report

    def report(self, path: str, problem: str) -> None:
        finding = Finding(self.resource, path, problem)
        if finding not in self.report_to.findings:
            self.report_to.findings.append(finding)

    def value(self, value: Any, node: dict[str, Any], path: str) -> None:
        try:
            schema = resolve(self.definitions, node)
        except MissingDefinition as missing:
            self.report(path, f"the excerpt lacks definition {missing}; copy it from the specification")
            return
        if schema.read_only:
            self.report(path, "read-only: the API ignores or refuses a value here")
            return
        for alternative in alternatives(value, self.scope):
            if isinstance(alternative, Typed):
                self.typed(alternative, schema, path)
            else:
                self.literal(alternative, schema, path)

    def typed(self, value: Typed, schema: Schema, path: str) -> None:
        if value.python_type is not object and not accepts_type(schema, value.python_type):
            what = value.source or "an expression"
            self.report(path, f"{what} is a {value.python_type.__name__}, the API wants {describe(schema)}")
        for allowed in value.allowed:
            self.literal(Literal(allowed), schema, f"{path} ({value.source} allows {allowed!r})")

    def literal(self, value: Literal, schema: Schema, path: str) -> None:
        found = value.value
        if not accepts_type(schema, type(found)):
            self.report(path, f"{found!r} is a {type(found).__name__}, the API wants {describe(schema)}")
        elif isinstance(found, dict):
            self.object(found, schema, path, check_required=not value.partial)
        elif isinstance(found, list):
            for index, item in enumerate(found):
                self.value(item, schema.items or {}, f"{path}[{index}]")
        elif schema.enum is not None and found not in schema.enum:
            self.report(path, f"{found!r} is not a value this API version knows: {list(schema.enum)}")

    def object(self, found: dict[str, Any], schema: Schema, path: str, check_required: bool = True) -> None:
        keys = {unquote(k): v for k, v in found.items()}
        for key, item in keys.items():
            where = f"{path}.{key}" if path else key
            if not path and key in BICEP_KEYS:
                continue  # the resource's own name, parent, scope, dependsOn: Bicep's, not the API's
            self.report_to.properties += 1
            if key in schema.properties:
                self.value(item, schema.properties[key], where)
            elif isinstance(schema.additional, dict):
                self.value(item, schema.additional, where)
            elif schema.additional is True or not schema.properties:
                continue  # a free-form object: any key
            else:
                self.report(where, f"unknown property '{key}'{suggestion(key, schema.properties)}")
        if check_required:
            writable = {name for name in schema.required if not schema.properties.get(name, {}).get("readOnly")}
            for name in sorted(writable - set(keys)):
                self.report(f"{path}.{name}" if path else name, "required by the API but not set")


def describe(schema: Schema) -> str:
    return schema.type or ("an object" if schema.is_object else "another type")


def suggestion(key: str, known: dict[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def declaration_body(declaration: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resource body, loop items) with a for-loop or if-condition around the body taken off."""
    config = declaration["config"]
    loop_items: dict[str, Any] = {}
    if "loop_type" in config:
        detail = config["loop_type"].get("detail", {})
        if "item_name" in detail:
            loop_items[detail["item_name"]] = detail.get("array_name")
        config = config["config"]
    elif set(config) == {"condition", "config"}:
        config = config["config"]
    return config, loop_items


def check_templates(templates: dict[str, dict[str, Any]], bodies: dict[str, Body]) -> Report:
    """Check every resource in {label: pycep template} against the excerpts."""
    report = Report()
    for label, template in templates.items():
        for symbol, declaration in template.get("resources", {}).items():
            type_version = f"{declaration['type']}@{declaration['api_version']}"
            resource = f"{label}: {symbol} ({type_version})"
            report.checked.append(resource)
            config, loop_items = declaration_body(declaration)
            checker = Checker(resource, {}, Scope(template, loop_items), report)
            body = bodies.get(type_version)
            if body is None:
                checker.report("", f"no excerpt of the REST specification for {type_version} in tests/infra/specs")
                continue
            definition = body.definition
            if isinstance(definition, dict):
                name = config.get("name")
                if not isinstance(name, str) or name not in definition:
                    checker.report("name", f"{name!r} is not one of the names the excerpt knows: {sorted(definition)}")
                    continue
                definition = definition[name]
            checker.definitions = body.definitions
            try:
                schema = resolve(body.definitions, {"$ref": f"#/definitions/{definition}"})
            except MissingDefinition as missing:
                checker.report("", f"the excerpt lacks definition {missing}")
                continue
            # An existing resource is only looked up: nothing of it is required here.
            checker.object(config, schema, "", check_required=not declaration.get("existing"))
    return report
