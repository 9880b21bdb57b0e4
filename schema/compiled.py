"""Compiled operations: validated documents whose every field below the root is plain data run
without graphql-core's general execution machinery.

graphql-core completes every field of every object through the same general path (field
collection, resolve info, awaitable checks, the incremental-delivery bookkeeping). For the
operations Roster serves most - a participant opening their link, a report page, an enrollment
whose result lists thousands of participants - everything below the root field is an attribute
of an object the root resolver already built. Such a document is compiled once into a tree of
small functions, one per selected field; a request then runs the root resolvers exactly as
graphql-core would (same resolve info, arguments, errors) and completes the values with that
tree: coercing leaves with their types' own `coerce_output_value`, nulls and errors propagated
by the rules of the spec, with graphql-core's messages and paths.

Anything else is not compiled and runs the ordinary way: fragments, directives, aliases that
merge, abstract types, and any field below the root with a resolver, arguments or a permission
class. Documents are compiled only after they passed parsing, the limits and validation on the
ordinary path (`CompileOperations` runs in its `on_execute`), so a compiled plan never serves a
document that path would refuse.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution import ExecutionResult, Executor, default_field_resolver
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

# A response path as completion passes it down: (previous, key) pairs, cheaper than graphql-core's Path.
_Path = tuple[Any, str | int] | None
# complete(value, path, errors) -> the response value; raises when the value cannot be completed
Completer = Callable[[Any, _Path, list[GraphQLError]], Any]


class NotCompilable(Exception):
    """The document uses something only graphql-core's general executor handles."""


@dataclass(frozen=True, slots=True)
class _Field:
    """One selected field below the root: read, then completed."""

    key: str
    read: Callable[[Any], Any]
    complete: Completer
    non_null: bool
    nodes: list[FieldNode]


@dataclass(frozen=True, slots=True)
class _RootField:
    key: str
    definition: GraphQLField
    resolve: Callable[..., Any]
    nodes: list[FieldNode]
    complete: Completer
    non_null: bool
    arguments: bool


@dataclass(frozen=True)
class Plan:
    """A compiled operation: its root fields, each with the completion of its whole subtree."""

    document: DocumentNode
    operation_name: str | None
    operation_type: StrawberryOperationType  # as strawberry's views name what a method allows
    root_type: GraphQLObjectType
    fields: tuple[_RootField, ...]

    async def execute(self, schema: GraphQLSchema, *, root_value: Any, context_value: Any, variable_values: Any) -> ExecutionResult:
        """Run the operation; the same data and errors as graphql-core's `execute`."""
        # graphql-core picks the operation and coerces the variables, with its own errors.
        executor = Executor.build(
            schema,
            self.document,
            root_value,
            context_value,
            variable_values,
            self.operation_name,
            is_awaitable=optimized_is_awaitable,
        )
        if isinstance(executor, list):
            return ExecutionResult(data=None, errors=executor)
        errors: list[GraphQLError] = []
        data: dict[str, Any] = {}
        root_name = self.root_type.name
        # Root fields one after the other: required for mutations, allowed for queries.
        for field in self.fields:
            path = Path(None, field.key, root_name)
            try:
                info = executor.build_resolve_info(field.definition, field.nodes, self.root_type, path)
                args = get_argument_values(field.definition, field.nodes[0], executor.variable_values) if field.arguments else {}
                value = field.resolve(root_value, info, **args)
                if optimized_is_awaitable(value):
                    value = await value
                data[field.key] = field.complete(value, (None, field.key), errors)
            except Exception as raw:  # noqa: BLE001 -- every field error becomes a GraphQL error, as in graphql-core
                error = located_error(raw, field.nodes, path.as_list())
                errors.append(error)
                if field.non_null:
                    return ExecutionResult(data=None, errors=errors)
                data[field.key] = None
        return ExecutionResult(data=data, errors=errors or None)


def compile_operation(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Plan | None:
    """The plan of the operation, or None when it needs the general executor."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != len(document.definitions):
        return None  # fragment definitions
    if operation_name is None:
        operation = operations[0] if len(operations) == 1 else None
    else:
        operation = next((o for o in operations if o.name and o.name.value == operation_name), None)
    if operation is None or operation.directives:
        return None
    root_type = schema.get_root_type(operation.operation)
    if root_type is None or operation.operation == OperationType.SUBSCRIPTION:
        return None
    try:
        fields = tuple(_root_fields(root_type, operation.selection_set))
    except NotCompilable:
        return None
    return Plan(document, operation_name, StrawberryOperationType(operation.operation.value), root_type, fields)


def _selected(selection_set: SelectionSetNode) -> list[tuple[str, FieldNode]]:
    """(response key, node) of each selection; only plain, distinct fields compile."""
    selected: list[tuple[str, FieldNode]] = []
    keys: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives:
            raise NotCompilable
        key = node.alias.value if node.alias else node.name.value
        if key in keys:
            raise NotCompilable  # graphql-core merges repeated keys
        keys.add(key)
        selected.append((key, node))
    return selected


def _root_fields(root_type: GraphQLObjectType, selection_set: SelectionSetNode) -> list[_RootField]:
    fields = []
    for key, node in _selected(selection_set):
        name = node.name.value
        definition = _typename_field(root_type) if name == "__typename" else root_type.fields.get(name)
        if definition is None or (name.startswith("__") and name != "__typename"):
            raise NotCompilable  # introspection
        complete = _completer(definition.type, node, root_type.name, name)
        arguments = bool(definition.args or node.arguments)
        resolve = definition.resolve or default_field_resolver
        fields.append(_RootField(key, definition, resolve, [node], complete, is_non_null_type(definition.type), arguments))
    return fields


def _typename_field(object_type: GraphQLObjectType) -> GraphQLField:
    name = object_type.name
    return GraphQLField(GraphQLNonNull(GraphQLString), resolve=lambda _source, _info: name)


def _object_fields(object_type: GraphQLObjectType, selection_set: SelectionSetNode) -> tuple[_Field, ...]:
    if object_type.is_type_of is not None:
        raise NotCompilable  # graphql-core checks the value's type first
    fields = []
    parent = object_type.name
    for key, node in _selected(selection_set):
        name = node.name.value
        if name == "__typename":
            fields.append(_Field(key, lambda _source, name=parent: name, _leaf_completer(GraphQLString, None), True, [node]))
            continue
        definition = object_type.fields.get(name)
        if definition is None or name.startswith("__") or definition.args or node.arguments:
            raise NotCompilable
        read = _plain_read(definition)
        complete = _completer(definition.type, node, parent, name)
        fields.append(_Field(key, read, complete, is_non_null_type(definition.type), [node]))
    return tuple(fields)


def _plain_read(definition: GraphQLField) -> Callable[[Any], Any]:
    """How to read a field that is an attribute of its object: no resolver, no permission class."""
    resolve = definition.resolve
    if resolve is None or not getattr(resolve, "_is_default", False):
        raise NotCompilable  # a resolver (or a field extension) must run with its info
    strawberry_field = (definition.extensions or {}).get("strawberry-definition")
    if strawberry_field is not None and strawberry_field.default_resolver is getattr:
        return operator.attrgetter(strawberry_field.python_name)
    return lambda source: resolve(source, None)


def _completer(type_: GraphQLOutputType, node: FieldNode, parent: str, field: str) -> Completer:
    """The completion of a value of type_ (graphql-core's complete_value, specialised once).

    A non-null type is checked by the completer of the type it wraps: the same message, one call fewer.
    """
    non_null = None
    if is_non_null_type(type_):
        non_null = f"Cannot return null for non-nullable field {parent}.{field}."
        type_ = type_.of_type  # type: ignore[attr-defined]
    if is_list_type(type_):
        return _list_completer(type_.of_type, node, parent, field, non_null)  # type: ignore[attr-defined]
    if is_leaf_type(type_):
        if node.selection_set is not None:
            raise NotCompilable
        return _leaf_completer(type_, non_null)
    if is_object_type(type_) and node.selection_set is not None:
        return _object_completer(type_, node.selection_set, non_null)  # type: ignore[arg-type]
    raise NotCompilable  # interfaces and unions


# Scalars whose coercion returns a str unchanged (graphql-core's serialize_string and serialize_id).
_STRINGLIKE = (GraphQLString, GraphQLID)


def _leaf_completer(type_: Any, non_null: str | None) -> Completer:
    """graphql-core's complete_leaf_value, with the non-null check when non_null holds its message.

    The values most fields hold take a shortcut with the same outcome: a str for String and ID,
    a member of the enum for an enum type. Everything else goes through the type's own coercion.
    """
    coerce = type_.coerce_output_value
    if type_ in _STRINGLIKE:
        known: Any = str
        names: dict[Any, Any] = {}
    elif isinstance(type_, GraphQLEnumType) and getattr(type_, "wrapped_cls", None) is not None:
        known, names = type_.wrapped_cls, {member: coerce(member) for member in type_.wrapped_cls}
    else:
        known, names = None, {}

    def complete_leaf(value: Any, path: _Path, errors: list[GraphQLError]) -> Any:
        if type(value) is known:
            return names[value] if names else value
        if _absent(value, non_null):
            return None
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(type_)}.coerce_output_value({inspect(value)})` to return non-nullable value, returned: {inspect(coerced)}"
            )
        return coerced

    return complete_leaf


def _list_completer(item_type: GraphQLOutputType, node: FieldNode, parent: str, field: str, non_null: str | None) -> Completer:
    item = _completer(item_type, node, parent, field)
    item_non_null = is_non_null_type(item_type)
    nodes = [node]
    message = f"Expected Iterable, but did not find one for field '{parent}.{field}'."

    def complete_list(value: Any, path: _Path, errors: list[GraphQLError]) -> Any:
        if _absent(value, non_null):
            return None
        if not is_iterable(value):
            raise GraphQLError(message)
        completed = []
        append = completed.append
        for index, entry in enumerate(value):
            try:
                append(item(entry, (path, index), errors))
            except Exception as raw:  # noqa: BLE001 -- every field error becomes a GraphQL error, as in graphql-core
                _field_error(raw, nodes, (path, index), item_non_null, errors)
                append(None)
        return completed

    return complete_list


def _object_completer(object_type: GraphQLObjectType, selection_set: SelectionSetNode, non_null: str | None) -> Completer:
    fields = _object_fields(object_type, selection_set)
    steps = tuple((f.key, f.read, f.complete) for f in fields)  # what the loop below reads, in one unpacking
    by_key = {f.key: f for f in fields}

    def complete_object(value: Any, path: _Path, errors: list[GraphQLError]) -> Any:
        if _absent(value, non_null):
            return None
        completed = {}
        for key, read, complete in steps:
            try:
                completed[key] = complete(read(value), (path, key), errors)
            except Exception as raw:  # noqa: BLE001 -- every field error becomes a GraphQL error, as in graphql-core
                _field_error(raw, by_key[key].nodes, (path, key), by_key[key].non_null, errors)
                completed[key] = None
        return completed

    return complete_object


def _absent(value: Any, non_null: str | None) -> bool:
    """graphql-core's first steps for any value: a null is null (an error where null is not allowed), an exception is raised."""
    if value is None or value is Undefined:
        if non_null is not None:
            raise TypeError(non_null)
        return True
    if isinstance(value, Exception):
        raise value
    return False


def _field_error(raw: Exception, nodes: list[FieldNode], path: _Path, non_null: bool, errors: list[GraphQLError]) -> None:
    """Locate a field's error at its path: raised to the parent when the field may not be null, else recorded."""
    error = located_error(raw, nodes, _as_list(path))
    if non_null:
        raise error from None
    errors.append(error)


def _as_list(path: _Path) -> list[str | int]:
    """The response path an error reports, from the (previous, key) pairs the completers pass down."""
    keys: list[str | int] = []
    while path is not None:
        path, key = path
        keys.append(key)
    keys.reverse()
    return keys


# --- the cache of plans, and the extension that fills it ------------------------------------

_NOT_COMPILED = object()


class PlanCache:
    """Plans by (query text, operation name), least recently compiled dropped first."""

    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[tuple[str, str | None], Any] = OrderedDict()

    def get(self, query: str, operation_name: str | None) -> Plan | None:
        plan = self._plans.get((query, operation_name))
        return plan if isinstance(plan, Plan) else None

    def known(self, query: str, operation_name: str | None) -> bool:
        return (query, operation_name) in self._plans

    def put(self, query: str, operation_name: str | None, plan: Plan | None) -> None:
        self._plans[(query, operation_name)] = plan if plan is not None else _NOT_COMPILED
        while len(self._plans) > self.maxsize:
            self._plans.popitem(last=False)


class CompileOperations(SchemaExtension):
    """Last of the extensions: compiles the validated document, and runs it compiled when it can.

    Later requests with the same text skip the extensions altogether (RosterSchema.execute).
    """

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        plans: PlanCache | None = getattr(context.schema, "plans", None)
        document = context.graphql_document
        # The name as the request gave it (strawberry's operation_name fills in the document's own).
        name = getattr(context, "_provided_operation_name", context.operation_name)
        if plans is not None and document is not None and context.query and not context.result:
            if plans.known(context.query, name):
                plan = plans.get(context.query, name)
            else:
                plan = compile_operation(context.schema._schema, document, name)
                plans.put(context.query, name, plan)
            if plan is not None:
                context.result = await plan.execute(
                    context.schema._schema, root_value=context.root_value, context_value=context.context, variable_values=context.variables
                )
        yield
