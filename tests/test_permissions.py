"""Least privilege: every query and mutation, called by every kind of caller, does exactly what the table says.

The table is checked against the schema itself, so a new field without an expectation fails here.
Callers: nobody, a reports:read token, a participant link (sent as the `link` argument where one is
taken, and tried as a Bearer token everywhere), an internal user's session, and an admin token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

import schema
from server.config import Settings
from server.models import Session
from server.services import auth
from server.services.security import new_token, token_hash
from tests.conftest import GraphQLClient
from tests.factories import enroll_emails, enroll_usernames, make_course, make_group, make_user

CALLERS = ("nobody", "reports", "link", "user", "admin")
PASSWORD = "ann's long password"

# Outcomes: "data" (answered, non-empty), "null" / "empty" / "false" (answered, nothing to show),
# or the error code the caller gets.
ADMIN_ONLY = {"nobody": "UNAUTHENTICATED", "reports": "FORBIDDEN", "link": "UNAUTHENTICATED", "user": "FORBIDDEN", "admin": "data"}
REPORTS = {**ADMIN_ONLY, "reports": "data"}
PARTICIPANT = {"nobody": "UNAUTHENTICATED", "reports": "UNAUTHENTICATED", "link": "data", "user": "data", "admin": "UNAUTHENTICATED"}
ANYONE = dict.fromkeys(CALLERS, "data")


@dataclass
class World:
    course: str
    lesson: str
    other_lesson: str
    question: str
    right_choice: str
    participant: str  # pat, external, holder of the link
    link: str
    reports_token_id: str
    tokens: dict[str, str]


@dataclass(frozen=True)
class Call:
    document: str
    variables: Callable[[World], dict[str, Any]]
    expected: dict[str, str]
    takes_link: bool = False


LESSON_INPUT = {"title": "Extra", "body": "Some *text*"}
QUIZ_INPUT = {"passMark": 50, "questions": [{"text": "2+2?", "choices": [{"text": "4", "correct": True}, {"text": "5"}]}]}

QUERIES: dict[str, Call] = {
    "courses": Call("{ courses { id } }", lambda w: {}, ADMIN_ONLY),
    "course": Call("query($id: ID!) { course(id: $id) { id } }", lambda w: {"id": w.course}, ADMIN_ONLY),
    "removedParticipants": Call(
        "query($c: ID!) { removedParticipants(courseId: $c) { removedBy } }",
        lambda w: {"c": w.course},
        {**REPORTS, "reports": "empty", "admin": "empty"},  # part of the course report
    ),
    "users": Call("{ users { username } }", lambda w: {}, ADMIN_ONLY),
    "groups": Call("{ groups { name } }", lambda w: {}, ADMIN_ONLY),
    "courseReport": Call("query($c: ID!) { courseReport(courseId: $c) { totalCount } }", lambda w: {"c": w.course}, REPORTS),
    "participantView": Call(
        "query($link: String!) { participantView(link: $link) { participant { name } course { title } } }",
        lambda w: {"link": w.link},
        {**dict.fromkeys(CALLERS, "null"), "link": "data"},
        takes_link=True,
    ),
    "viewer": Call("{ viewer { username isAdmin } }", lambda w: {}, {**dict.fromkeys(CALLERS, "null"), "user": "data"}),
    "myLearning": Call("{ myLearning { course { title } } }", lambda w: {}, {**dict.fromkeys(CALLERS, "empty"), "user": "data"}),
    "auditLog": Call("{ auditLog { edges { node { action } } } }", lambda w: {}, ADMIN_ONLY),
    "apiTokens": Call("{ apiTokens { name } }", lambda w: {}, ADMIN_ONLY),
}

MUTATIONS: dict[str, Call] = {
    "createUser": Call('mutation { createUser(input: {username: "zed"}) { id } }', lambda w: {}, ADMIN_ONLY),
    "createGroup": Call('mutation { createGroup(name: "new") { id } }', lambda w: {}, ADMIN_ONLY),
    "addGroupMembers": Call('mutation { addGroupMembers(group: "team", usernames: ["bob"]) { id } }', lambda w: {}, ADMIN_ONLY),
    "removeGroupMembers": Call('mutation { removeGroupMembers(group: "team", usernames: ["ann"]) { id } }', lambda w: {}, ADMIN_ONLY),
    "setUserActive": Call('mutation { setUserActive(username: "bob", active: false) { active } }', lambda w: {}, ADMIN_ONLY),
    "setAutoEnrollment": Call(
        'mutation($c: ID!) { setAutoEnrollment(courseId: $c, groups: ["team"], enabled: true) { enrolledCount } }',
        lambda w: {"c": w.course},
        ADMIN_ONLY,
    ),
    "createCourse": Call('mutation { createCourse(input: {title: "New"}) { id } }', lambda w: {}, ADMIN_ONLY),
    "publishCourse": Call("mutation($c: ID!) { publishCourse(courseId: $c) { published } }", lambda w: {"c": w.course}, ADMIN_ONLY),
    "enrollParticipants": Call(
        'mutation($c: ID!) { enrollParticipants(courseId: $c, usernames: ["bob"], sendEmail: false) { enrolled { link } } }',
        lambda w: {"c": w.course},
        ADMIN_ONLY,
    ),
    "enrollExternal": Call(
        'mutation($c: ID!) { enrollExternal(courseId: $c, emails: ["sam@example.com"], sendEmail: false) { enrolled { link } } }',
        lambda w: {"c": w.course},
        ADMIN_ONLY,
    ),
    "removeParticipant": Call(
        "mutation($p: ID!) { removeParticipant(participantId: $p) { removed } }", lambda w: {"p": w.participant}, ADMIN_ONLY
    ),
    "regenerateLink": Call(
        "mutation($p: ID!) { regenerateLink(participantId: $p, sendEmail: false) { link } }", lambda w: {"p": w.participant}, ADMIN_ONLY
    ),
    "resendLink": Call("mutation($p: ID!) { resendLink(participantId: $p) { id } }", lambda w: {"p": w.participant}, ADMIN_ONLY),
    "createLesson": Call(
        "mutation($c: ID!, $i: LessonInput!) { createLesson(courseId: $c, input: $i) { id } }",
        lambda w: {"c": w.course, "i": LESSON_INPUT},
        ADMIN_ONLY,
    ),
    "updateLesson": Call(
        "mutation($l: ID!, $i: LessonInput!) { updateLesson(lessonId: $l, input: $i) { id } }",
        lambda w: {"l": w.lesson, "i": LESSON_INPUT},
        ADMIN_ONLY,
    ),
    "deleteLesson": Call("mutation($l: ID!) { deleteLesson(lessonId: $l) }", lambda w: {"l": w.other_lesson}, ADMIN_ONLY),
    "reorderLessons": Call(
        "mutation($c: ID!, $ls: [ID!]!) { reorderLessons(courseId: $c, lessonIds: $ls) { id } }",
        lambda w: {"c": w.course, "ls": [w.other_lesson, w.lesson]},
        ADMIN_ONLY,
    ),
    "setQuiz": Call(
        "mutation($c: ID!, $i: QuizInput!) { setQuiz(courseId: $c, input: $i) { id } }",
        lambda w: {"c": w.course, "i": QUIZ_INPUT},
        ADMIN_ONLY,
    ),
    "completeLesson": Call(
        "mutation($l: ID!, $link: String) { completeLesson(lessonId: $l, link: $link) { progress } }",
        lambda w: {"l": w.lesson},
        PARTICIPANT,
        takes_link=True,
    ),
    "submitQuiz": Call(
        "mutation($c: ID!, $a: [QuizAnswerInput!]!, $link: String) { submitQuiz(courseId: $c, answers: $a, link: $link) { score } }",
        lambda w: {"c": w.course, "a": [{"questionId": w.question, "choiceIds": [w.right_choice]}]},
        PARTICIPANT,
        takes_link=True,
    ),
    "signIn": Call(
        "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { username } }",
        lambda w: {"u": "ann", "p": PASSWORD},
        ANYONE,
    ),
    "signOut": Call("mutation { signOut }", lambda w: {}, {**dict.fromkeys(CALLERS, "false"), "user": "data"}),
    "setUserPassword": Call(
        'mutation { setUserPassword(username: "bob", password: "a new long password") { username } }', lambda w: {}, ADMIN_ONLY
    ),
    "createApiToken": Call('mutation { createApiToken(name: "x", scope: "admin") { secret } }', lambda w: {}, ADMIN_ONLY),
    "revokeApiToken": Call(
        "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }", lambda w: {"id": w.reports_token_id}, ADMIN_ONLY
    ),
}


def schema_fields(kind: str) -> set[str]:
    graphql_schema = schema.build_schema(Settings(secret_keys=("k" * 40,)))._schema
    root = graphql_schema.query_type if kind == "query" else graphql_schema.mutation_type
    return set(root.fields)


def test_every_query_and_mutation_has_an_expectation():
    assert set(QUERIES) == schema_fields("query"), "add the new query to QUERIES with what each caller may do"
    assert set(MUTATIONS) == schema_fields("mutation"), "add the new mutation to MUTATIONS with what each caller may do"


async def build_world(settings, client: httpx.AsyncClient, *, with_password: bool = False) -> World:
    course = await make_course("Safety")
    ann = await make_user("ann")
    await make_user("bob")
    await make_group("team", ["ann"])
    if with_password:  # argon2 is slow on purpose: only the sign-in row needs it
        await auth.set_password(username="ann", password=PASSWORD, actor="test")
    await enroll_usernames(settings, course, "ann")
    pat = (await enroll_emails(settings, course, "pat@example.com")).enrolled[0]
    admin_token = (await auth.create_token(name="admin", scope="admin", actor="test"))[1]
    reports, reports_token = await auth.create_token(name="reports", scope="reports:read", actor="test")
    admin = GraphQLClient(client, admin_token)
    lessons = [
        (
            await admin.data(
                "mutation($c: ID!, $t: String!) { createLesson(courseId: $c, input: {title: $t}) { id } }", {"c": course.id, "t": t}
            )
        )["createLesson"]["id"]
        for t in ("One", "Two")
    ]
    quiz = (
        await admin.data(
            "mutation($c: ID!, $i: QuizInput!) { setQuiz(courseId: $c, input: $i) { questions { id choices { id } } } }",
            {"c": course.id, "i": QUIZ_INPUT},
        )
    )["setQuiz"]
    # An internal user's session, opened the way sign-in opens it, without paying for argon2 each time.
    session = new_token()
    await Session.create(token_hash=token_hash(session), user=ann, expires_at=auth.now() + timedelta(days=1))
    return World(
        course=str(course.id),
        lesson=lessons[0],
        other_lesson=lessons[1],
        question=quiz["questions"][0]["id"],
        right_choice=quiz["questions"][0]["choices"][0]["id"],
        participant=str(pat.participant.id),
        link=pat.link.split("#", 1)[1],
        reports_token_id=str(reports.id),
        tokens={"admin": admin_token, "reports": reports_token, "user": session},
    )


def outcome(body: dict, field: str) -> str:
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    value = (body.get("data") or {}).get(field)
    if value is None:
        return "null"
    if value == []:
        return "empty"
    if value is False:
        return "false"
    return "data"


async def call_as(client: httpx.AsyncClient, world: World, caller: str, call: Call) -> dict:
    headers = {}
    client.cookies.clear()
    variables = call.variables(world)
    if caller in ("admin", "reports"):
        headers["authorization"] = f"Bearer {world.tokens[caller]}"
    elif caller == "user":
        client.cookies.set("roster_session", world.tokens["user"])
    elif caller == "link":
        headers["authorization"] = f"Bearer {world.link}"  # a link is not an API token
    if call.takes_link:
        variables["link"] = world.link if caller == "link" else variables.get("link") and "forged.value"
    response = await client.post("/graphql", json={"query": call.document, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("field", sorted(QUERIES) + sorted(MUTATIONS))
async def test_each_caller_may_do_exactly_what_the_table_says(settings, client, field):
    call = QUERIES.get(field) or MUTATIONS[field]
    world = await build_world(settings, client, with_password=field == "signIn")
    # Admin last: the callers before it are refused or change nothing the next one depends on.
    seen = {caller: outcome(await call_as(client, world, caller, call), field) for caller in CALLERS}
    assert seen == call.expected


async def test_questions_seen_through_a_link_never_carry_the_answer(settings, client):
    world = await build_world(settings, client)
    view = "query($link: String!) { participantView(link: $link) { course { quiz { questions { choices { correct } } } } } }"
    body = await GraphQLClient(client)(view, {"link": world.link})
    choices = body["data"]["participantView"]["course"]["quiz"]["questions"][0]["choices"]
    assert [c["correct"] for c in choices] == [None, None]
    admin = await GraphQLClient(client, world.tokens["admin"]).data(
        "query($id: ID!) { course(id: $id) { quiz { questions { choices { correct } } } } }", {"id": world.course}
    )
    assert [c["correct"] for c in admin["course"]["quiz"]["questions"][0]["choices"]] == [True, False]
