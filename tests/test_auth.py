"""API tokens and permissions, and the audit trail of enrollment changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from server.models import ApiToken, AuditEvent, Participant
from server.services import auth
from tests.conftest import GraphQLClient, error_code
from tests.factories import make_course, make_user

COURSES = "{ courses { id title } }"
ENROLL = """
mutation($course: ID!, $usernames: [String!]!) {
  enrollParticipants(courseId: $course, usernames: $usernames, sendEmail: false) { enrolled { link participant { id } } }
}"""
MANAGEMENT = [
    ('mutation { createCourse(input: {title: "Nope"}) { id } }', {}),
    ('mutation { createUser(input: {username: "mallory"}) { id } }', {}),
    ('mutation { createGroup(name: "g") { id } }', {}),
    ('mutation { enrollExternal(courseId: 1, emails: ["x@example.com"], sendEmail: false) { enrolled { link } } }', {}),
    ("mutation { removeParticipant(participantId: 1) { removed } }", {}),
    ("mutation { regenerateLink(participantId: 1, sendEmail: false) { link } }", {}),
    ("{ users { username } }", {}),
    ("{ groups { name } }", {}),
]


async def test_tokens_are_stored_only_as_hashes(settings):
    _, secret = await auth.create_token(name="hr sync", scope="admin", actor="test")

    rows = await connections.get("default").execute_query_dict("SELECT * FROM api_tokens")
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    assert secret not in stored and secret.removeprefix("rst_") not in stored
    assert rows[0]["token_hash"] == auth.token_hash(secret)
    assert (await auth.principal_for_token(secret)).name == "token:hr sync"


async def test_an_admin_token_may_manage(settings, client, admin_token):
    course = await make_course("Visible")
    data = await GraphQLClient(client, admin_token).data(COURSES)
    assert data["courses"] == [{"id": str(course.id), "title": "Visible"}]


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Token {secret}",
        "Bearer",
        "Bearer ",
        "{secret}",
        "Bearer rst_forged-token-value",
        "Bearer {secret}x",
    ],
)
async def test_wrong_credentials_are_unauthenticated_and_get_no_data(settings, client, admin_token, header):
    await make_course("Secret plans")
    response = await client.post("/graphql", json={"query": COURSES}, headers={"authorization": header.format(secret=admin_token)})
    body = response.json()
    assert error_code(body) == "UNAUTHENTICATED"
    assert body["data"] is None
    assert "Secret plans" not in response.text


async def test_the_scheme_is_case_insensitive(settings, client, admin_token):
    response = await client.post("/graphql", json={"query": COURSES}, headers={"authorization": f"bearer {admin_token}"})
    assert "errors" not in response.json()


async def test_a_revoked_token_stops_working_at_once(settings, client):
    token, secret = await auth.create_token(name="old integration", scope="admin", actor="test")
    caller = GraphQLClient(client, secret)
    assert "errors" not in await caller(COURSES)

    await auth.revoke_token(token_id=token.id, actor="test")

    body = await caller(COURSES)
    assert error_code(body) == "UNAUTHENTICATED" and body["data"] is None
    assert (await ApiToken.get(id=token.id)).revoked_at is not None


@pytest.mark.parametrize(("query", "variables"), MANAGEMENT)
async def test_a_reports_token_is_forbidden_management(settings, client, reports_token, query, variables):
    course = await make_course()
    await make_user("alice")
    before = await AuditEvent.all().count()

    body = await GraphQLClient(client, reports_token)(query.replace("courseId: 1", f"courseId: {course.id}"), variables)

    assert error_code(body) == "FORBIDDEN"
    assert body["data"] is None
    assert await AuditEvent.all().count() == before, "nothing happened"


@pytest.mark.parametrize(("query", "variables"), MANAGEMENT)
async def test_no_token_is_unauthenticated_for_management(settings, client, query, variables):
    body = await GraphQLClient(client)(query, variables)
    assert error_code(body) == "UNAUTHENTICATED"
    assert body["data"] is None


async def test_unknown_scopes_and_empty_names_are_refused(settings):
    from server.services.errors import BadInput

    with pytest.raises(BadInput):
        await auth.create_token(name="x", scope="superuser", actor="test")
    with pytest.raises(BadInput):
        await auth.create_token(name="   ", scope="admin", actor="test")
    assert await ApiToken.all().count() == 0


async def test_enroll_remove_and_regenerate_are_audited_with_actor_target_and_time(settings, gql):
    course = await make_course()
    await make_user("alice")
    started = datetime.now(UTC) - timedelta(seconds=5)

    enrolled = (await gql.data(ENROLL, {"course": course.id, "usernames": ["alice"]}))["enrollParticipants"]["enrolled"][0]
    participant_id = enrolled["participant"]["id"]
    await gql.data("mutation($id: ID!) { regenerateLink(participantId: $id, sendEmail: false) { link } }", {"id": participant_id})
    await gql.data("mutation($id: ID!) { removeParticipant(participantId: $id) { removed } }", {"id": participant_id})

    events = await AuditEvent.filter(action__startswith="participant.").order_by("id")
    assert [e.action for e in events] == ["participant.enroll", "participant.regenerate_link", "participant.remove"]
    for event in events:
        assert event.actor == "token:test admin"
        assert event.target == f"participant:{participant_id}"
        assert event.course_id == course.id
        assert started <= event.at <= datetime.now(UTC) + timedelta(seconds=5)
    assert events[0].detail["name"] == "alice" and events[2].detail["name"] == "alice"
    assert not await Participant.filter(id=participant_id).exists()
    link_value = enrolled["link"].split("#", 1)[1]
    assert all(link_value not in str(e.detail) for e in events), "the link never reaches the audit log"
