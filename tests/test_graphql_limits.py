"""GraphQL limits: for each, one request just under (answered) and one just over (refused, never a 500)."""

from __future__ import annotations

import json

import httpx
import pytest
from graphql import Source, TokenKind
from graphql.language import Lexer

from server.app import create_app
from tests.conftest import GraphQLClient, error_code, with_settings
from tests.factories import enroll_emails, make_course


@pytest.fixture
async def limited(settings, admin_token):
    """An app whose depth limit is small enough to reach with real fields."""
    app = create_app(with_settings(settings, max_query_depth=3, max_body_bytes=5000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://roster.test") as client:
        yield GraphQLClient(client, admin_token)


async def course_with_participant(settings) -> str:
    course = await make_course()
    await enroll_emails(settings, course, "pat@example.com")
    return str(course.id)


async def test_depth_just_under_and_just_over(limited, settings):
    course = await course_with_participant(settings)
    under = "query($c: ID!) { courseReport(courseId: $c) { edges { node { name } } } }"
    over = "query($c: ID!) { courseReport(courseId: $c) { edges { node { user { username } } } } }"
    data = await limited.data(under, {"c": course})
    assert data["courseReport"]["edges"][0]["node"]["name"] == "pat@example.com"
    body = await limited(over, {"c": course})
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED" and "4 levels" in body["errors"][0]["message"]
    assert body.get("data") is None


async def test_depth_hidden_in_fragments_and_inline_fragments_is_counted(limited, settings):
    course = await course_with_participant(settings)
    hidden = """
    query($c: ID!) { courseReport(courseId: $c) { ...Edges } }
    fragment Edges on ParticipantConnection { edges { ...Node } }
    fragment Node on ParticipantEdge { node { ... on Participant { user { username } } } }"""
    assert error_code(await limited(hidden, {"c": course})) == "GRAPHQL_VALIDATION_FAILED"
    allowed = """
    query($c: ID!) { courseReport(courseId: $c) { ...Edges } }
    fragment Edges on ParticipantConnection { edges { ...Node } }
    fragment Node on ParticipantEdge { node { ... on Participant { name } } }"""
    assert (await limited.data(allowed, {"c": course}))["courseReport"]["edges"][0]["node"]["name"] == "pat@example.com"


async def test_aliases_just_under_and_just_over(gql, settings):
    limit = settings.max_aliases
    under = "{ " + " ".join(f"a{i}: __typename" for i in range(limit)) + " }"
    over = "{ " + " ".join(f"a{i}: __typename" for i in range(limit + 1)) + " }"
    assert len(await gql.data(under)) == limit
    body = await gql(over)
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED" and f"{limit + 1} aliases" in body["errors"][0]["message"]


async def test_aliases_hidden_in_fragments_count_every_time_the_fragment_is_spread(gql, settings):
    half = settings.max_aliases // 2
    fragment = "fragment F on Query { " + " ".join(f"a{i}: courses {{ id }}" for i in range(half)) + " }"
    under = "{ ...F ... on Query { ...F } } " + fragment  # 2 x half = the limit
    over = "{ ...F ... on Query { ...F } x: __typename } " + fragment
    assert (await gql.data(under))["a0"] == []
    assert error_code(await gql(over)) == "GRAPHQL_VALIDATION_FAILED"


async def test_a_fragment_spreading_the_next_twice_is_refused_without_expanding_it(gql):
    # 2^60 aliases once expanded; the old limiters walked every path and hung the worker.
    levels = 60
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    bomb = "{ ...F0 } " + fragments + f" fragment F{levels} on Query {{ a: __typename }}"
    body = await gql(bomb)
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED" and "over a million aliases" in body["errors"][0]["message"]
    # The same chain without aliases is harmless: execution merges the repeated spreads.
    plain = "{ ...F0 } " + fragments + f" fragment F{levels} on Query {{ __typename }}"
    assert (await gql.data(plain)) == {"__typename": "Query"}


async def test_fragment_cycles_and_unknown_fragments_are_validation_errors(gql):
    cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { courses { id } ...A }"
    self_cycle = "{ ...A } fragment A on Query { ...A }"
    unknown = "{ ...Missing }"
    for query in (cycle, self_cycle, unknown):
        response = await gql.raw(query)
        assert response.status_code == 200
        assert error_code(response.json()) == "GRAPHQL_VALIDATION_FAILED"


async def test_introspection_cannot_nest_deeply(gql):
    nested = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert error_code(await gql(nested)) == "GRAPHQL_VALIDATION_FAILED"
    assert (await gql.data("{ __schema { queryType { name } } }"))["__schema"]["queryType"]["name"] == "Query"


def token_count(query: str) -> int:
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


async def test_tokens_just_under_and_just_over(gql, settings):
    limit = settings.max_query_tokens
    padding = " ".join('"x"' for _ in range(limit - 19))
    under = f"mutation {{ enrollExternal(courseId: 1, emails: [{padding}]) {{ skipped {{ reason }} }} }}"
    over = under.replace("[", '["x" ', 1)
    assert token_count(under) == limit and token_count(over) == limit + 1
    body = await gql(under)
    assert error_code(body) == "NOT_FOUND"  # parsed, validated and run: course 1 does not exist
    body = await gql(over)
    assert error_code(body) == "GRAPHQL_PARSE_FAILED" and "more than" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ users(first: %d) { id } }",
        "{ groups(first: %d) { id } }",
        "{ auditLog(first: %d) { edges { cursor } } }",
    ],
)
async def test_page_size_just_under_and_just_over(gql, settings, query):
    limit = settings.max_page_size
    assert "errors" not in await gql(query % limit)
    body = await gql(query % (limit + 1))
    assert error_code(body) == "BAD_USER_INPUT" and str(limit) in body["errors"][0]["message"]
    assert error_code(await gql(query % -1)) == "BAD_USER_INPUT"


async def test_report_page_size_just_under_and_just_over(gql, settings):
    course = await course_with_participant(settings)
    query = "query($c: ID!, $n: Int) { courseReport(courseId: $c, first: $n) { totalCount } }"
    assert (await gql.data(query, {"c": course, "n": settings.max_page_size}))["courseReport"]["totalCount"] == 1
    assert error_code(await gql(query, {"c": course, "n": settings.max_page_size + 1})) == "BAD_USER_INPUT"


async def test_body_size_just_under_and_just_over(limited):
    def body_of(size: int) -> bytes:
        start, end = b'{"query": "{ __typename ', b'}"}'
        return start + b" " * (size - len(start) - len(end)) + end

    ok = await limited.client.post("/graphql", content=body_of(5000), headers={"content-type": "application/json"})
    assert ok.status_code == 200 and ok.json() == {"data": {"__typename": "Query"}}
    too_big = await limited.client.post("/graphql", content=body_of(5001), headers={"content-type": "application/json"})
    assert too_big.status_code == 413

    async def stream():  # no Content-Length: the limit still holds while reading
        for _ in range(6):
            yield b" " * 1000

    streamed = await limited.client.post("/graphql", content=stream(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


async def test_only_json_posts_are_graphql(client, admin_token):
    """A cross-site form can send urlencoded, multipart or text/plain bodies and GETs: none may run an operation."""
    auth = {"authorization": f"Bearer {admin_token}"}
    mutation = 'mutation { createCourse(input: {title: "csrf"}) { id } }'
    refused = [
        await client.post("/graphql", data={"query": mutation}, headers=auth),
        await client.post("/graphql", files={"query": (None, mutation)}, headers=auth),
        await client.post("/graphql", content=json.dumps({"query": mutation}), headers={**auth, "content-type": "text/plain"}),
        await client.get("/graphql", params={"query": "{ courses { id } }"}, headers=auth),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400, 400]
    gql = GraphQLClient(client, admin_token)
    assert (await gql.data("{ courses { title } }"))["courses"] == []


async def test_batched_requests_are_refused(client, admin_token):
    response = await client.post(
        "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}], headers={"authorization": f"Bearer {admin_token}"}
    )
    assert response.status_code == 400 and "Batching" in response.text


async def test_bad_request_bodies_are_400_not_500(client):
    for content in (b"{not json", b'{"query": 5}', b'{"query": "{ __typename }", "variables": [1]}', b"[]", b'"x"', b"\xff\xfe"):
        response = await client.post("/graphql", content=content, headers={"content-type": "application/json"})
        assert response.status_code == 400, (content, response.status_code, response.text)
        assert "Traceback" not in response.text


async def test_production_turns_off_introspection_and_graphiql(settings):
    production = with_settings(settings, env="production")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(production)), base_url="http://roster.test") as client:
        body = (await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
        assert error_code(body) == "GRAPHQL_VALIDATION_FAILED" and body.get("data") is None
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 404 and "GraphiQL" not in page.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://roster.test") as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "GraphiQL" in page.text
