"""Rows in bulk: 10,000 of them written in a handful of statements, in milliseconds of Python.

Tortoise's bulk_create converts and validates every cell, and its query builder takes
milliseconds to render a 500-value IN list; the callers here hold values they validated
themselves, so they use plain SQL built once per statement shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

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


def connection(model: type[Model]) -> Any:
    """The connection the model's statements go to: the current transaction's, if there is one."""
    return model._choose_db(for_write=True)


def placeholders(client: Any, count: int) -> list[str]:
    """count parameter markers in the connection's own style: $1, $2 … on PostgreSQL, ? on SQLite."""
    if client.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(1, count + 1)]
    return ["?"] * count


def names(model: type[Model], columns: Sequence[str]) -> str:
    """Quoted column names, each checked to be one of the model's: only values are ever parameters."""
    unknown = set(columns) - set(model._meta.db_fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
    return ", ".join(f'"{c}"' for c in columns)


async def insert_values(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
    ignore_conflicts: bool = False,
    batch_size: int = 500,
) -> list[tuple]:
    """INSERT rows of database-ready values, one statement per batch; the returning columns of the rows written.

    Without returning, each batch is one executemany; with it, one multi-row INSERT ... RETURNING.

    With ignore_conflicts, a row that would break a unique constraint is left out (ON CONFLICT DO
    NOTHING) and is missing from what comes back: the caller learns which rows lost a race without
    another query. Both SQLite (3.35+) and PostgreSQL return the generated ids the same way.
    """
    client = connection(model)
    head = f'INSERT INTO "{model._meta.db_table}" ({names(model, columns)}) VALUES '  # noqa: S608 -- names checked, values are parameters
    tail = (" ON CONFLICT DO NOTHING" if ignore_conflicts else "") + (f" RETURNING {names(model, returning)}" if returning else "")
    width = len(columns)
    one_row = f"{head}({', '.join(placeholders(client, width))}){tail}"
    written: list[tuple] = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        if not returning:  # nothing to read back: one prepared row statement, executed for every row (the cheapest)
            await client.execute_many(one_row, [list(row) for row in batch])
            continue
        marks = placeholders(client, width * len(batch))
        groups = ", ".join(f"({', '.join(marks[i : i + width])})" for i in range(0, len(marks), width))
        # execute_query_dict: Tortoise's asyncpg execute_query drops the rows of an INSERT.
        found = await client.execute_query_dict(head + groups + tail, [value for row in batch for value in row])
        written.extend(tuple(r[c] for c in returning) for r in found)
    return written


async def rows_where_in(
    model: type[Model], columns: Sequence[str], key: str, keys: Sequence[Any], *, equal: dict[str, Any] | None = None, batch_size: int = 500
) -> list[tuple]:
    """SELECT columns FROM the model's table WHERE key IN keys (and each column of equal has its value), in batches."""
    client = connection(model)
    equal = equal or {}
    names(model, [*equal, key])
    head = f'SELECT {names(model, columns)} FROM "{model._meta.db_table}" WHERE '  # noqa: S608 -- names checked, values are parameters
    found: list[tuple] = []
    for start in range(0, len(keys), batch_size):
        batch = list(keys[start : start + batch_size])
        marks = placeholders(client, len(equal) + len(batch))
        conditions = [f'"{c}" = {m}' for c, m in zip(equal, marks, strict=False)]
        conditions.append(f'"{key}" IN ({", ".join(marks[len(equal) :])})')
        rows = await client.execute_query_dict(head + " AND ".join(conditions), [*equal.values(), *batch])
        found.extend(tuple(r[c] for c in columns) for r in rows)
    return found
