"""The audit log and API tokens: what admins see through GraphQL and `roster audit`."""

from __future__ import annotations

import os
import subprocess
import sys

from server.models import AuditEvent
from server.services import auth
from tests.conftest import GraphQLClient, error_code
from tests.factories import enroll_emails, make_course, make_user

AUDIT = """
query($first: Int, $after: String, $filter: AuditFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id at actor action target courseId detail } }
    pageInfo { hasNextPage endCursor }
  }
}"""
TOKENS = "{ apiTokens { id name scope createdAt revokedAt } }"
CREATE = "mutation($name: String!, $scope: String!) { createApiToken(name: $name, scope: $scope) { secret token { id name scope } } }"
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }"


async def test_audit_log_pages_newest_first_and_filters(gql, settings):
    course = await make_course()
    other = await make_course("Other")
    await enroll_emails(settings, course, "a@example.com", "b@example.com", "c@example.com")
    await enroll_emails(settings, other, "d@example.com")

    seen = []
    after = None
    while True:
        page = (await gql.data(AUDIT, {"first": 2, "after": after, "filter": {"action": "participant.enroll"}}))["auditLog"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [e["target"] for e in seen][:1] and len(seen) == 4
    assert [int(e["id"]) for e in seen] == sorted((int(e["id"]) for e in seen), reverse=True)
    assert {e["actor"] for e in seen} == {"test"}

    only = (await gql.data(AUDIT, {"filter": {"courseId": str(course.id), "action": "participant.enroll"}}))["auditLog"]["edges"]
    assert len(only) == 3 and {e["node"]["courseId"] for e in only} == {str(course.id)}
    by_actor = (await gql.data(AUDIT, {"filter": {"actor": "nobody"}}))["auditLog"]
    assert by_actor == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_audit_log_rejects_bad_cursors_and_page_sizes(gql, settings):
    assert error_code(await gql(AUDIT, {"after": "not-a-cursor!"})) == "BAD_USER_INPUT"
    assert error_code(await gql(AUDIT, {"first": settings.max_page_size + 1})) == "BAD_USER_INPUT"
    assert error_code(await gql(AUDIT, {"filter": {"courseId": "abc"}})) == "BAD_USER_INPUT"


async def test_audit_log_is_for_admins_only(client, reports_token):
    assert error_code(await GraphQLClient(client)(AUDIT)) == "UNAUTHENTICATED"
    assert error_code(await GraphQLClient(client, reports_token)(AUDIT)) == "FORBIDDEN"


async def test_tokens_are_created_listed_without_secret_and_revoked(gql, client):
    created = (await gql.data(CREATE, {"name": "hr-sync", "scope": "reports:read"}))["createApiToken"]
    secret = created["secret"]
    assert secret.startswith("rst_") and created["token"]["scope"] == "reports:read"

    listing = await gql.raw(TOKENS)
    assert secret not in listing.text
    names = {t["name"]: t for t in listing.json()["data"]["apiTokens"]}
    assert names["hr-sync"]["revokedAt"] is None

    integration = GraphQLClient(client, secret)
    assert error_code(await integration("{ courses { id } }")) == "FORBIDDEN"  # works, but only for reports

    revoked = (await gql.data(REVOKE, {"id": created["token"]["id"]}))["revokeApiToken"]
    assert revoked["revokedAt"] is not None
    assert error_code(await integration("{ courses { id } }")) == "UNAUTHENTICATED"

    actions = [e["node"]["action"] for e in (await gql.data(AUDIT, {"filter": {"actor": "token:test admin"}}))["auditLog"]["edges"]]
    assert actions[:2] == ["token.revoke", "token.create"]


async def test_bad_token_requests_are_answered_not_crashed(gql):
    assert error_code(await gql(CREATE, {"name": "x", "scope": "root"})) == "BAD_USER_INPUT"
    assert error_code(await gql(CREATE, {"name": "x" * 500, "scope": "admin"})) == "BAD_USER_INPUT"
    assert error_code(await gql(REVOKE, {"id": "999999"})) == "NOT_FOUND"
    assert error_code(await gql(REVOKE, {"id": "nope"})) == "BAD_USER_INPUT"


async def test_signin_success_and_failure_are_audited(settings):
    await make_user("alice")
    await auth.set_password(username="alice", password="correct horse battery", actor="test")
    await auth.sign_in(username="alice", password="correct horse battery", session_days=1)
    try:
        await auth.sign_in(username="alice", password="not the password", session_days=1)
    except auth.Unauthenticated:
        pass
    actions = [e.action for e in await AuditEvent.filter(target="user:alice").order_by("id")]
    assert actions[-2:] == ["signin.success", "signin.failure"]


def roster(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROSTER_DATABASE_URL": settings.database_url, "ROSTER_SECRET_KEYS": settings.secret_keys[0], "ROSTER_ENV": "test"}
    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True, env=env, timeout=60)


async def test_roster_audit_prints_events_newest_first(settings):
    course = await make_course()
    await enroll_emails(settings, course, "pat@example.com")
    token, _ = await auth.create_token(name="bi", scope="reports:read", actor="cli")
    await auth.revoke_token(token_id=token.id, actor="cli")

    result = roster(settings, "audit", "--first", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "token.revoke" in lines[0] and "token.create" in lines[1]
    assert "more" in lines[-1]

    only = roster(settings, "audit", "--course", str(course.id))
    assert only.returncode == 0 and "participant.enroll" in only.stdout and "token" not in only.stdout

    bad = roster(settings, "audit", "--first", "0")
    assert bad.returncode == 1 and "--first" in bad.stderr and "Traceback" not in bad.stderr


async def test_roster_lists_tokens_without_secret_and_revokes_them(settings, client):
    token, secret = await auth.create_token(name="hr-sync", scope="reports:read", actor="cli")

    listed = roster(settings, "list-tokens")
    assert listed.returncode == 0 and "hr-sync" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout and secret.removeprefix("rst_") not in listed.stdout

    revoked = roster(settings, "revoke-token", str(token.id))
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    assert "revoked" in roster(settings, "list-tokens").stdout
    assert error_code(await GraphQLClient(client, secret)("{ __typename courseReport(courseId: 1) { totalCount } }")) == "UNAUTHENTICATED"
    assert [e.action for e in await AuditEvent.filter(target=f"token:{token.id}").order_by("id")] == ["token.create", "token.revoke"]

    missing = roster(settings, "revoke-token", "99999")
    assert missing.returncode == 1 and "No API token" in missing.stderr


async def test_every_sensitive_action_through_graphql_lands_in_the_audit_log(gql, client):
    course = await make_course()
    await make_user("alice")
    await auth.set_password(username="alice", password="correct horse battery", actor="test")
    enrolled = await gql.data(
        'mutation($c: ID!) { enrollExternal(courseId: $c, emails: ["pat@example.com", "sam@example.com"], sendEmail: false) '
        "{ enrolled { participant { id } } } }",
        {"c": course.id},
    )
    pat, sam = (e["participant"]["id"] for e in enrolled["enrollExternal"]["enrolled"])
    await gql.data("mutation($p: ID!) { regenerateLink(participantId: $p, sendEmail: false) { link } }", {"p": pat})
    await gql.data("mutation($p: ID!) { resendLink(participantId: $p) { id } }", {"p": pat})
    await gql.data("mutation($p: ID!) { removeParticipant(participantId: $p) { removed } }", {"p": sam})
    sign_in = 'mutation($p: String!) { signIn(username: "alice", password: $p) { username } }'
    await GraphQLClient(client)(sign_in, {"p": "wrong password!"})
    await GraphQLClient(client)(sign_in, {"p": "correct horse battery"})
    created = await gql.data('mutation { createApiToken(name: "bi", scope: "reports:read") { token { id } } }')
    await gql.data("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", {"id": created["createApiToken"]["token"]["id"]})

    events = (await gql.data(AUDIT, {"first": 100}))["auditLog"]["edges"]
    actions = [e["node"]["action"] for e in events]
    expected = [
        "participant.enroll",
        "participant.regenerate_link",
        "participant.resend_link",
        "participant.remove",
        "signin.failure",
        "signin.success",
        "token.create",
        "token.revoke",
    ]
    assert set(expected) <= set(actions), actions
    by_action = {e["node"]["action"]: e["node"] for e in events}
    assert by_action["participant.remove"]["actor"] == "token:test admin"
    assert by_action["participant.remove"]["courseId"] == str(course.id)
    assert by_action["signin.failure"]["target"] == "user:alice"
    assert "wrong password" not in str(events) and "correct horse" not in str(events)
