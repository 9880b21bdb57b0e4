"""Many unsaved rows at once, for bulk_create: 10,000 rows build in milliseconds, not a fifth of a second."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from tortoise.fields.base import Field
from tortoise.fields.data import CharEnumFieldInstance, DatetimeField
from tortoise.models import Model

M = TypeVar("M", bound=Model)


def new_rows(model: type[M], common: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> list[M]:
    """Unsaved instances of model: common values plus each row's own, all already validated by the caller.

    Tortoise's Model.__init__ checks and assigns every attribute one by one (about 20 µs a row);
    here one instance is built that way and the others copy its state, then set their own columns.
    """
    template = model(**common).__dict__
    mutable = [key for key, value in template.items() if isinstance(value, dict | list)]  # e.g. a JSONField's default
    built = []
    for values in rows:
        row = model.__new__(model)
        state = row.__dict__
        state.update(template)
        for key in mutable:
            state[key] = type(template[key])()
        state.update(values)
        built.append(row)
    return built


def _column_converter(field: Field) -> Callable[[Any, Model], Any] | None:
    """How one column's values become database values, chosen once per column; None when stored as they are."""
    if isinstance(field, CharEnumFieldInstance):
        return lambda value, row: value.value if isinstance(value, Enum) else value
    if type(field).to_db_value is Field.to_db_value:  # numbers, strings, foreign keys
        return None
    if isinstance(field, DatetimeField):
        convert = field.to_db_value
        auto = field.auto_now or field.auto_now_add

        def datetime_value(value: Any, row: Model) -> Any:
            if value is None and not auto:
                return None
            if isinstance(value, datetime) and value.tzinfo is UTC:
                return value  # already what the field would store
            return convert(value, row)  # auto_now_add fills the row in

        return datetime_value
    return field.to_db_value  # JSON, …


async def insert(model: type[M], rows: Sequence[M], *, ignore_conflicts: bool = False, batch_size: int = 500) -> None:
    """bulk_create's statement for rows made by new_rows, without its per-cell conversion and validation.

    bulk_create converts every cell through its field (a third of a 10,000-member enrollment);
    these rows hold values the caller validated: plain columns are read in one attrgetter call,
    and only enums, datetimes and JSON go through a converter.
    """
    if not rows:
        return
    query = model.bulk_create(rows, batch_size=batch_size, ignore_conflicts=ignore_conflicts)
    query._choose_db_if_not_chosen(True)
    query._executor = query._db.executor_class(model=model, db=query._db)
    sql, _ = query._make_queries(set())
    columns = query._executor.regular_columns
    fields_map = model._meta.fields_map
    special = [(i, convert) for i, name in enumerate(columns) if (convert := _column_converter(fields_map[name])) is not None]
    read = operator.attrgetter(*columns)
    for start in range(0, len(rows), batch_size):
        values = []
        for row in rows[start : start + batch_size]:
            cells = list(read(row)) if len(columns) > 1 else [read(row)]
            for i, convert in special:
                cells[i] = convert(cells[i], row)
            values.append(cells)
        await query._db.execute_many(sql, values)
