"""Internal users: sign-in sessions, the viewer, My learning, and taking a course without a link."""

from __future__ import annotations

import httpx

from server.app import create_app
from server.models import Session
from server.services import auth, enrollment
from tests.conftest import GraphQLClient, count_queries, error_code, with_settings
from tests.factories import enroll_emails, enroll_usernames, make_course, make_user
from tests.test_learning import COMPLETE, CREATE_LESSON, FIVE_QUESTIONS, SUBMIT, add_quiz, right_answers

PASSWORD = "correct horse battery"
SIGN_IN = "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { username displayName isAdmin } }"
VIEWER = "{ viewer { username isAdmin } }"
MY_LEARNING = """
{ myLearning { participant { kind status progress score } course { title lessons { title completed } quiz { questions { choices { correct } } } } } }
"""


async def make_learner(username: str = "alice", *, email: str | None = None):
    user = await make_user(username, email=email)
    await auth.set_password(username=username, password=PASSWORD, actor="test")
    return user


async def sign_in(client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
    return await client.post("/graphql", json={"query": SIGN_IN, "variables": {"u": username, "p": password}})


async def test_signing_in_sets_an_http_only_cookie_and_shows_the_viewer(settings, client):
    await make_learner()
    anonymous = GraphQLClient(client)
    assert (await anonymous.data(VIEWER))["viewer"] is None

    response = await sign_in(client)
    assert response.json()["data"]["signIn"] == {"username": "alice", "displayName": "Alice", "isAdmin": False}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("roster_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http public URL in tests
    assert (await anonymous.data(VIEWER))["viewer"] == {"username": "alice", "isAdmin": False}
    # The cookie holds the secret; the database only its hash.
    secret = client.cookies["roster_session"]
    assert not await Session.filter(token_hash=secret).exists()


async def test_the_cookie_is_secure_behind_https(settings):
    await make_learner()
    app = create_app(with_settings(settings, public_url="https://roster.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://roster.example") as client:
        response = await sign_in(client)
    assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_password_or_unknown_user_signs_nobody_in(settings, client):
    await make_learner()
    await make_user("nopassword")
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("nopassword", PASSWORD)):
        response = await sign_in(client, username, password)
        assert error_code(response.json()) == "UNAUTHENTICATED"
        assert response.json()["errors"][0]["message"] == "Wrong username or password"
        assert "set-cookie" not in response.headers
    assert await Session.all().count() == 0


async def test_signing_out_revokes_the_session_on_the_server(settings, client):
    await make_learner()
    await sign_in(client)
    stolen = client.cookies["roster_session"]
    gql = GraphQLClient(client)
    assert (await gql.data("mutation { signOut }"))["signOut"] is True
    assert (await gql.data(VIEWER))["viewer"] is None
    # Replaying the old cookie after sign-out gets nobody.
    client.cookies.set("roster_session", stolen)
    assert (await gql.data(VIEWER))["viewer"] is None
    assert (await gql.data("mutation { signOut }"))["signOut"] is False


async def test_an_admin_setting_a_password_ends_the_user_s_sessions(settings, client, admin_token):
    await make_learner()
    await sign_in(client)
    gql = GraphQLClient(client)
    set_password = "mutation($u: String!, $p: String!) { setUserPassword(username: $u, password: $p) { username } }"
    learner_try = await gql(set_password, {"u": "alice", "p": "a brand new password"})
    assert error_code(learner_try) == "FORBIDDEN"
    done = await gql.data(set_password, {"u": "alice", "p": "a brand new password"}, token=admin_token)
    assert done["setUserPassword"]["username"] == "alice"
    assert (await gql.data(VIEWER))["viewer"] is None
    assert error_code(await gql(set_password, {"u": "alice", "p": "short"}, token=admin_token)) == "BAD_USER_INPUT"
    assert error_code(await gql(set_password, {"u": "ghost", "p": "long enough pass"}, token=admin_token)) == "NOT_FOUND"
    response = await sign_in(client, "alice", "a brand new password")
    assert response.json()["data"]["signIn"]["username"] == "alice"


async def test_my_learning_lists_internal_enrollments_only_and_lets_the_user_take_the_course(settings, client, admin_token):
    await make_learner(email="alice@corp.example")
    admin = GraphQLClient(client, admin_token)
    course = await make_course("Safety basics")
    lesson = (await admin.data(CREATE_LESSON, {"course": course.id, "title": "Intro", "body": "hi"}))["createLesson"]
    await admin.data(CREATE_LESSON, {"course": course.id, "title": "More", "body": "hi"})
    questions = await add_quiz(admin, course, pass_mark=80, max_attempts=None, questions=FIVE_QUESTIONS)
    await enroll_usernames(settings, course, "alice")
    by_email = await make_course("Enrolled by email")
    await enroll_emails(settings, by_email, "other@example.com")
    await enrollment.enroll_external(
        settings=settings, course_id=by_email.id, emails=["alice@corp.example"], allow_internal=True, send_email=False, actor="test"
    )
    draft = await make_course("Draft", published=False)
    await enroll_usernames(settings, draft, "alice")

    gql = GraphQLClient(client)
    assert (await gql.data(MY_LEARNING))["myLearning"] == []
    await sign_in(client)
    views = (await gql.data(MY_LEARNING))["myLearning"]
    assert [v["course"]["title"] for v in views] == ["Safety basics"]
    assert views[0]["participant"]["kind"] == "INTERNAL" and views[0]["participant"]["status"] == "NOT_STARTED"
    assert all(c["correct"] is None for q in views[0]["course"]["quiz"]["questions"] for c in q["choices"])

    done = (await gql.data(COMPLETE, {"lesson": lesson["id"]}))["completeLesson"]
    assert done["status"] == "IN_PROGRESS" and done["progress"] == 0.5
    attempt = (await gql.data(SUBMIT, {"course": course.id, "answers": right_answers(questions)}))["submitQuiz"]
    assert attempt["passed"] is True and attempt["participant"]["status"] == "PASSED"
    views = (await gql.data(MY_LEARNING))["myLearning"]
    assert views[0]["participant"]["score"] == 100
    assert [lesson["completed"] for lesson in views[0]["course"]["lessons"]] == [True, False]

    # The course alice was enrolled in by email is not hers here: it is taken through that link.
    other_lesson = (await admin.data(CREATE_LESSON, {"course": by_email.id, "title": "X", "body": ""}))["createLesson"]
    assert error_code(await gql(COMPLETE, {"lesson": other_lesson["id"]})) == "NOT_FOUND"
    draft_lesson = (await admin.data(CREATE_LESSON, {"course": draft.id, "title": "X", "body": ""}))["createLesson"]
    assert error_code(await gql(COMPLETE, {"lesson": draft_lesson["id"]})) == "NOT_FOUND"


async def test_my_learning_costs_the_same_queries_for_one_course_or_many(settings, client):
    await make_learner()
    await sign_in(client)
    gql = GraphQLClient(client)
    first = await make_course("Course 0")
    await enroll_usernames(settings, first, "alice")
    with count_queries() as one:
        await gql.data(MY_LEARNING)
    for i in range(1, 6):
        course = await make_course(f"Course {i}")
        await enroll_usernames(settings, course, "alice")
    with count_queries() as many:
        views = (await gql.data(MY_LEARNING))["myLearning"]
    assert len(views) == 6
    assert many.count == one.count, (one.statements, many.statements)


async def test_a_bearer_token_cannot_act_as_a_participant(settings, gql):
    course = await make_course()
    lesson = (await gql.data(CREATE_LESSON, {"course": course.id, "title": "Intro", "body": ""}))["createLesson"]
    assert error_code(await gql(COMPLETE, {"lesson": lesson["id"]})) == "UNAUTHENTICATED"
