"""GraphQL hygiene: JSON POST only, codes on every error, unexpected failures masked with a request id."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from tortoise.exceptions import OperationalError

from server.models import AuditEvent, Participant
from server.services import courses
from tests.conftest import GraphQLClient, error_code
from tests.factories import make_course, make_users


async def test_get_queries_are_refused(client, admin_token):
    response = await client.get("/graphql", params={"query": "{ courses { id } }"}, headers={"authorization": f"Bearer {admin_token}"})
    assert response.status_code in (400, 405)
    assert "courses" not in response.text or "data" not in response.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("query={ courses { id } }", "application/x-www-form-urlencoded"),
        ('{"query": "{ courses { id } }"}', "text/plain"),
        ("{ courses { id } }", "application/graphql"),
    ],
)
async def test_non_json_posts_are_refused(client, admin_token, content, content_type):
    await make_course("Hidden")
    response = await client.post(
        "/graphql", content=content, headers={"content-type": content_type, "authorization": f"Bearer {admin_token}"}
    )
    assert response.status_code in (400, 415)
    assert "Hidden" not in response.text


@pytest.mark.parametrize("content", [b"{not json", b'{"query": 5}', b"[]", b"null", b'{"query": "{ courses { id } }", "variables": "x"}'])
async def test_malformed_bodies_are_400_never_500(client, content):
    response = await client.post("/graphql", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "Traceback" not in response.text


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(client, admin_token, monkeypatch, caplog):
    async def broken() -> list:
        raise OperationalError("disk I/O error at /var/lib/roster/secret-path")

    monkeypatch.setattr(courses, "list_courses", broken)
    with caplog.at_level(logging.ERROR, logger="roster.graphql"):
        response = await client.post("/graphql", json={"query": "{ courses { id } }"}, headers={"authorization": f"Bearer {admin_token}"})

    assert response.status_code == 200
    body = response.json()
    request_id = response.headers["x-request-id"]
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert request_id in error["message"]
    assert "secret-path" not in response.text and "Traceback" not in response.text and "OperationalError" not in response.text
    logged = [r for r in caplog.records if r.name == "roster.graphql"]
    assert logged and request_id in logged[0].getMessage()
    assert logged[0].exc_info and "secret-path" in str(logged[0].exc_info[1]), "the cause is in the log, not in the answer"


async def test_every_error_carries_a_code(settings, gql, client, reports_token):
    course = await make_course()
    cases = {
        "{ courses { nosuchfield } }": "GRAPHQL_VALIDATION_FAILED",
        "{ courses { id ": "GRAPHQL_PARSE_FAILED",
        '{ course(id: "abc") { id } }': "BAD_USER_INPUT",
        '{ courseReport(courseId: "9999") { totalCount } }': "NOT_FOUND",
        "mutation { removeParticipant(participantId: 12345) { removed } }": "NOT_FOUND",
    }
    for query, code in cases.items():
        assert error_code(await gql(query)) == code, query

    assert error_code(await GraphQLClient(client)("{ courses { id } }")) == "UNAUTHENTICATED"
    assert error_code(await GraphQLClient(client, reports_token)("{ courses { id } }")) == "FORBIDDEN"
    wrong_types = await gql(
        "mutation($c: ID!, $u: [String!]!) { enrollParticipants(courseId: $c, usernames: $u) { enrolled { link } } }",
        {"c": {"id": course.id}, "u": "alice"},
    )
    assert wrong_types["errors"] and all(e["extensions"]["code"] for e in wrong_types["errors"])
    assert wrong_types.get("data") is None


async def test_wrong_id_types_and_values_are_bad_input_not_crashes(settings, gql):
    await make_course()
    for value in ("abc", "1.5", "", " ", "0x10", "1e3", "9" * 40, "-5"):
        body = await gql("mutation($id: ID!) { removeParticipant(participantId: $id) { removed } }", {"id": value})
        assert error_code(body) in {"BAD_USER_INPUT", "NOT_FOUND"}, (value, body)
    body = await gql("mutation($id: ID!) { removeParticipant(participantId: $id) { removed } }", {"id": 3.5})
    assert error_code(body) == "BAD_USER_INPUT" and body.get("data") is None


async def test_responses_carry_no_stack_traces_even_in_development(client, admin_token):
    response = await client.post(
        "/graphql", content=json.dumps({"query": "{ " + "courses { id } " * 2 + "}"}), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert "Traceback" not in response.text and 'File "' not in response.text


# --- bad input to enrollment: per-entry reasons, never a 500, the database consistent ------------

ENROLL_USERS = """
mutation($course: ID!, $usernames: [String!]!) {
  enrollParticipants(courseId: $course, usernames: $usernames, sendEmail: false) {
    enrolled { participant { name } }
    skipped { entry reason }
  }
}"""


async def test_ten_thousand_usernames_with_duplicates_whitespace_and_unknowns(settings, gql):
    course = await make_course()
    await make_users(9_992)
    names = [f"user{i:05d}" for i in range(9_992)]
    names[0] = f"  {names[0]}\t"  # whitespace is trimmed
    names += ["user00001", "USER00002", "nobody", "", "user00003\r\n", "user\x1f", "x" * 500, "user00004"]
    assert len(names) == 10_000

    result = (await gql.data(ENROLL_USERS, {"course": course.id, "usernames": names}))["enrollParticipants"]

    reasons = Counter(s["reason"] for s in result["skipped"])
    assert len(result["enrolled"]) == 9_992
    assert reasons == {"DUPLICATE_ENTRY": 3, "UNKNOWN_USER": 5}
    assert await Participant.filter(course_id=course.id).count() == 9_992
    assert await AuditEvent.filter(action="participant.enroll", course_id=course.id).count() == 9_992


async def test_one_entry_over_the_limit_refuses_the_whole_request(settings, gql):
    course = await make_course()
    await make_users(3)
    body = await gql(ENROLL_USERS, {"course": course.id, "usernames": ["user00000"] * 10_001})
    assert error_code(body) == "BAD_USER_INPUT" and body["data"] is None
    assert await Participant.all().count() == 0


async def test_a_removed_participant_s_link_and_a_regenerated_one_open_nothing(settings, gql):
    course = await make_course()
    enrolled = (
        await gql.data(
            'mutation($c: ID!) { enrollExternal(courseId: $c, emails: ["pat@example.com", "sam@example.com"], sendEmail: false)'
            " { enrolled { link participant { id } } } }",
            {"c": course.id},
        )
    )["enrollExternal"]["enrolled"]
    view = "query($l: String!) { participantView(link: $l) { participant { id } } }"
    await gql.data("mutation($id: ID!) { removeParticipant(participantId: $id) { removed } }", {"id": enrolled[0]["participant"]["id"]})
    await gql.data(
        "mutation($id: ID!) { regenerateLink(participantId: $id, sendEmail: false) { link } }", {"id": enrolled[1]["participant"]["id"]}
    )

    for item in enrolled:
        assert (await gql.data(view, {"l": item["link"]}))["participantView"] is None
    body = await gql(
        "mutation($id: ID!) { regenerateLink(participantId: $id, sendEmail: false) { link } }", {"id": enrolled[0]["participant"]["id"]}
    )
    assert error_code(body) == "NOT_FOUND"


async def test_a_nul_anywhere_in_a_request_is_refused_clearly(settings, client, admin_token):
    """PostgreSQL text cannot hold NUL: the request is refused before any query, on both databases."""
    course = await make_course()
    for query, variables in (
        ("query($s: String) { users(search: $s) { username } }", {"s": "user\x00"}),
        ('{ groups(search: "\\u0000") { name } }', {}),
        (
            "mutation($c: ID!, $u: [String!]!) { enrollParticipants(courseId: $c, usernames: $u) { enrolled { link } } }",
            {"c": course.id, "u": ["a\x00"]},
        ),
        ('{ participantView(link: "abc\\u0000.def") { participant { id } } }', {}),
    ):
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"authorization": f"Bearer {admin_token}"}
        )
        assert response.status_code == 400 and "NUL" in response.text, (query, response.text)
    assert await Participant.all().count() == 0


async def test_services_answer_nul_and_control_characters_without_querying(settings):
    """The CLI and other callers reach the services without the HTTP check: no name that cannot exist is queried."""
    from server.services import directory, enrollment, reports

    course = await make_course()
    await make_users(2)
    result = await enrollment.enroll_users(
        settings=settings,
        course_id=course.id,
        usernames=["user\x00", "user00000", "a\x1fb"],
        groups=["sales\x00", "x" * 400],
        send_email=False,
        actor="test",
    )
    assert [e.participant.name for e in result.enrolled] == ["user00000"]
    assert sorted(s.reason.value for s in result.skipped) == ["UNKNOWN_GROUP", "UNKNOWN_GROUP", "UNKNOWN_USER", "UNKNOWN_USER"]
    assert await directory.search_users(search="user\x00", first=10) == []
    assert await directory.search_groups(search="\x00", first=10) == []
    assert await directory.group_by_name("g\x00") is None
    page = await reports.course_report(course_id=course.id, first=10, after=None, flt=reports.ReportFilter(search="a\x00"))
    assert (page.total, page.rows) == (0, [])
