"""Compiled operations answer exactly as graphql-core does, and serve the hot operations.

The first half runs the same documents through graphql-core's `execute` and through a compiled
plan on a small schema built to misbehave (nulls in non-null fields, values no enum has, a string
where a list belongs, resolvers that raise) and compares data and errors, paths and messages included.
The second half checks the real API: which documents are compiled, and that every answer of the
app with compiled plans equals the answer of the app without them.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from enum import Enum
from typing import Any

import httpx
import pytest
import strawberry
from graphql import execute, parse

from schema.compiled import compile_operation
from server.app import RosterGraphQL, create_app
from tests import factories
from tests.conftest import GraphQLClient

# --- a schema that misbehaves on request ----------------------------------------------------


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    name: str
    nick: str | None
    color: Color
    tags: list[str]
    maybe_tags: list[str | None] | None
    score: float | None
    child: Item | None
    children: list[Item]

    @strawberry.field
    def shout(self) -> str:  # a resolver below the root: not compiled
        return self.name.upper()


def item(name: Any = "a", **changes: Any) -> Item:
    values: dict[str, Any] = {
        "name": name,
        "nick": None,
        "color": Color.RED,
        "tags": ["x", "y"],
        "maybe_tags": None,
        "score": 1.5,
        "child": None,
        "children": [],
    }
    values.update(changes)
    return Item(**values)


ITEMS = {
    "good": item("good", nick="g", child=item("kid"), children=[item("c1"), item("c2", color=Color.BLUE)]),
    "null-name": item(None),
    "bad-color": item("b", color="purple"),
    "tags-string": item("t", tags="not a list"),
    "null-tag": item("n", tags=["x", None]),
    "maybe-null-tag": item("m", maybe_tags=["x", None, "z"]),
    "bad-child": item("p", child=item(None)),
    "bad-children": item("q", children=[item("ok"), item(None), item("ok2")]),
    "bad-score": item("s", score="not a number"),
}


@strawberry.type
class Query:
    @strawberry.field
    async def item(self, which: str) -> Item | None:
        return ITEMS.get(which)

    @strawberry.field
    def required(self, which: str) -> Item:
        return ITEMS.get(which)  # type: ignore[return-value]

    @strawberry.field
    def items(self, which: list[str]) -> list[Item | None]:
        return [ITEMS.get(w) for w in which]

    @strawberry.field
    def fail(self) -> str | None:
        raise ValueError("the resolver failed")

    @strawberry.field
    def fail_required(self) -> str:
        raise ValueError("the required resolver failed")

    @strawberry.field
    def greeting(self, name: str = "you") -> str:
        return f"hello {name}"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def touch(self, which: str) -> Item:
        return ITEMS[which]


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)

FIELDS = "name nick color tags maybeTags score child { name color } children { name color }"
DIFFERENTIAL = [
    ('query { item(which: "good") { ' + FIELDS + " } }", None),
    ('{ a: item(which: "good") { n: name c: color } b: item(which: "missing") { name } greeting }', None),
    ('{ item(which: "good") { __typename name child { __typename name } } __typename }', None),
    ("query($w: String!) { item(which: $w) { name tags } }", {"w": "good"}),
    ("query($w: String!) { item(which: $w) { name } }", {"w": 3}),  # a variable of the wrong type
    ("query($w: String!) { item(which: $w) { name } }", {}),  # a variable missing
    ('{ item(which: "null-name") { name nick } }', None),
    ('{ required(which: "null-name") { name } greeting }', None),
    ('{ required(which: "missing") { name } }', None),
    ('{ item(which: "bad-color") { name color } }', None),
    ('{ item(which: "tags-string") { name tags } }', None),
    ('{ item(which: "null-tag") { name tags } }', None),
    ('{ item(which: "maybe-null-tag") { name maybeTags } }', None),
    ('{ item(which: "bad-child") { name child { name nick } } }', None),
    ('{ item(which: "bad-children") { name children { name } } }', None),
    ('{ item(which: "bad-score") { name score } }', None),
    ('{ items(which: ["good", "null-name", "missing", "bad-color"]) { name color } }', None),
    ("{ fail greeting }", None),
    ("{ greeting failRequired fail }", None),
    ('{ greeting(name: "Ada") }', None),
    ('mutation { touch(which: "good") { name children { name } } }', None),
    ('mutation { touch(which: "nowhere") { name } }', None),
    ('mutation { first: touch(which: "good") { name } second: touch(which: "null-name") { name } }', None),
]


def formatted(result: Any) -> dict[str, Any]:
    return {"data": result.data, "errors": [e.formatted for e in result.errors or []]}


@pytest.mark.parametrize(("document", "variables"), DIFFERENTIAL)
async def test_a_compiled_plan_answers_exactly_as_graphql_core(document: str, variables: dict | None) -> None:
    parsed = parse(document)
    plan = compile_operation(SCHEMA._schema, parsed, None)
    assert plan is not None, "this document should compile"
    expected = execute(SCHEMA._schema, parsed, variable_values=variables)
    if hasattr(expected, "__await__"):
        expected = await expected
    actual = await plan.execute(SCHEMA._schema, root_value=None, context_value=None, variable_values=variables)
    assert formatted(actual) == formatted(expected)


@pytest.mark.parametrize(
    "document",
    [
        '{ item(which: "good") { ...Parts } } fragment Parts on Item { name }',
        '{ item(which: "good") { ... on Item { name } } }',
        '{ item(which: "good") { name @include(if: true) } }',
        '{ item(which: "good") { name name } }',  # repeated keys are merged by graphql-core
        '{ item(which: "good") { shout } }',  # a resolver below the root
        "{ __schema { queryType { name } } }",
        "subscription { nothing }",
    ],
)
def test_what_needs_the_general_executor_is_not_compiled(document: str) -> None:
    assert compile_operation(SCHEMA._schema, parse(document), None) is None


def test_the_operation_is_chosen_by_name() -> None:
    document = parse('query A { greeting } query B { item(which: "good") { name } }')
    assert compile_operation(SCHEMA._schema, document, None) is None  # graphql-core asks for a name
    plan = compile_operation(SCHEMA._schema, document, "B")
    assert plan is not None and [f.key for f in plan.fields] == ["item"]
    assert compile_operation(SCHEMA._schema, document, "C") is None


# --- the real API, with and without compiled plans ------------------------------------------


def graphql_view(app) -> RosterGraphQL:
    return next(r.endpoint for r in app.routes if getattr(r, "path", None) == "/graphql")


@pytest.fixture
async def both(settings):
    """Two apps on the same database: one compiles operations, the other runs all through graphql-core."""
    compiled, plain = create_app(settings), create_app(settings)
    graphql_view(plain).schema.plans = None
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=compiled), base_url="http://roster.test") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://roster.test") as b,
    ):
        yield compiled, a, b


VIEW = """query($link: String!) {
  participantView(link: $link) {
    participant { id kind name status progress emailStatus __typename }
    course { id title }
  }
}"""
REPORT = """query($course: ID!, $first: Int!, $after: String) {
  courseReport(courseId: $course, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind name email status progress enrolledAt emailStatus enrolledVia } }
  }
}"""
ENROLL = """mutation($course: ID!, $usernames: [String!]!) {
  enrollParticipants(courseId: $course, usernames: $usernames, sendEmail: false) {
    enrolled { link participant { id name kind enrolledVia } }
    skipped { entry reason message }
  }
}"""


async def post(client: httpx.AsyncClient, query: str, variables: dict, token: str | None = None) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.status_code, response.json()


async def test_the_app_answers_alike_with_and_without_compiled_plans(both, settings, admin_token) -> None:
    app, compiled, plain = both
    course = await factories.make_course("Alike")
    enrolled = await factories.enroll_emails(settings, course, "ada@example.com", "bob@example.com")
    link = enrolled.enrolled[0].link.split("#", 1)[1]
    cases = [
        (VIEW, {"link": link}, None),
        (VIEW, {"link": link + "x"}, None),
        (VIEW, {"link": 42}, None),
        (VIEW, {}, None),
        (REPORT, {"course": course.id, "first": 1}, admin_token),
        (REPORT, {"course": course.id, "first": 1}, None),  # no credentials: UNAUTHENTICATED
        (REPORT, {"course": "nope", "first": 1}, admin_token),
        (REPORT, {"course": course.id, "first": 10_000}, admin_token),  # over the page limit
        ("{ viewer { username isAdmin } }", {}, None),  # no session: null
        ("{ viewer { username isAdmin } }", {}, admin_token),
    ]
    for query, variables, token in cases:
        for _ in range(2):  # the first request compiles, the second runs the plan straight away
            assert await post(compiled, query, variables, token) == await post(plain, query, variables, token), (query, variables)
    plans = graphql_view(app).schema.plans
    assert plans.get(VIEW, None) is not None and plans.get(REPORT, None) is not None


async def test_unusual_requests_for_a_compiled_operation_get_the_general_answers(both, settings) -> None:
    app, compiled, plain = both
    course = await factories.make_course("Unusual")
    link = (await factories.enroll_emails(settings, course, "ada@example.com")).enrolled[0].link
    await post(compiled, VIEW, {"link": link})
    assert graphql_view(app).schema.plans.get(VIEW, None) is not None  # compiled: the requests below could take the short way
    body = json.dumps({"query": VIEW, "variables": {"link": link}})
    requests = [
        ("POST", body, "application/json; charset=utf-8", {}),
        ("POST", body, "text/plain", {}),
        ("POST", body, "application/json", {"accept": "text/event-stream"}),
        ("POST", f"[{body}]", "application/json", {}),  # a batch
        ("POST", body[:-5], "application/json", {}),  # not JSON
        ("POST", json.dumps({"query": VIEW, "variables": "nope"}), "application/json", {}),
        ("POST", json.dumps({"query": VIEW, "variables": {"link": link}, "extensions": {"x": 1}}), "application/json", {}),
        ("POST", json.dumps({"query": VIEW, "variables": {"link": "a\u0000b"}}), "application/json", {}),
        ("GET", None, None, {}),
    ]
    for method, content, content_type, headers in requests:
        answers = []
        for client in (compiled, plain):
            extra = {"content-type": content_type} if content_type else {}
            params = {"query": VIEW, "variables": json.dumps({"link": link})} if method == "GET" else None
            response = await client.request(method, "/graphql", content=content, params=params, headers={**extra, **headers})
            answers.append((response.status_code, response.headers.get("content-type"), response.text))
        assert answers[0] == answers[1], (method, content_type, headers, answers)


async def test_enrollment_results_are_alike_with_and_without_compiled_plans(both, settings, admin_token) -> None:
    app, compiled, plain = both
    users = await factories.make_users(3)
    names = [u.username for u in users] + ["user0", "nobody", " "]
    answers = []
    for client in (compiled, plain):
        course = await factories.make_course("Enroll")
        status, body = await post(client, ENROLL, {"course": course.id, "usernames": names}, admin_token)
        assert status == 200
        answers.append(normalized(body))
    assert answers[0] == answers[1]
    assert len(answers[0]["data"]["enrollParticipants"]["enrolled"]) == 3
    assert graphql_view(app).schema.plans.get(ENROLL, None) is not None
    # An error on the non-null root field: no data at all, in both.
    missing = [await post(client, ENROLL, {"course": 99999, "usernames": names}, admin_token) for client in (compiled, plain)]
    assert missing[0] == missing[1] and missing[0][1]["data"] is None
    assert missing[0][1]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def normalized(body: Any) -> Any:
    """Ids and links differ between two enrollments of the same people; everything else must not."""
    text = json.dumps(body)
    text = re.sub(r'"id": "\d+"', '"id": "N"', text)
    return json.loads(re.sub(r"/learn#[^\"]+", "/learn#LINK", text))


async def test_a_rate_limited_link_check_answers_429_on_the_compiled_path(settings) -> None:
    app = create_app(replace(settings, rate_link_failures=2, link_failure_floor_ms=0))
    client = GraphQLClient(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://roster.test"))
    try:
        statuses = []
        for _ in range(4):
            response = await client.raw(VIEW, {"link": "forged.link"})
            statuses.append(response.status_code)
        assert graphql_view(app).schema.plans.get(VIEW, None) is not None
        assert 429 in statuses
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED" and response.headers["retry-after"]
    finally:
        await client.client.aclose()
