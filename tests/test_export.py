"""GET /reports/{courseId}.csv: who may download it, and what it holds."""

from __future__ import annotations

import csv
import io

from server.services import auth, export
from tests.conftest import GraphQLClient
from tests.factories import enroll_emails, enroll_usernames, make_course, make_user
from tests.test_learning import COMPLETE, CREATE_LESSON, FIVE_QUESTIONS, SUBMIT, add_quiz, right_answers
from tests.test_sessions import PASSWORD, sign_in

HEADER = [
    "id",
    "name",
    "kind",
    "email",
    "enrolled_at",
    "enrolled_via",
    "status",
    "progress",
    "score",
    "attempts",
    "started_at",
    "completed_at",
    "last_activity_at",
    "email_status",
    "email_sent_at",
    "email_error",
]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_csv_holds_every_report_column_for_every_participant(settings, client, admin_token):
    gql = GraphQLClient(client, admin_token)
    course = await make_course()
    lesson = (await gql.data(CREATE_LESSON, {"course": course.id, "title": "One", "body": ""}))["createLesson"]
    await gql.data(CREATE_LESSON, {"course": course.id, "title": "Two", "body": ""})
    questions = await add_quiz(gql, course, pass_mark=80, max_attempts=None, questions=FIVE_QUESTIONS)
    await make_user("alice")
    await enroll_usernames(settings, course, "alice")
    result = await enroll_emails(settings, course, "pat@example.com", "=cmd@example.com")
    pat_link = result.enrolled[0].link
    await gql.data(COMPLETE, {"lesson": lesson["id"], "link": pat_link})
    await gql.data(SUBMIT, {"course": course.id, "answers": right_answers(questions), "link": pat_link})
    other = await make_course("Other")
    await enroll_emails(settings, other, "elsewhere@example.com")

    response = await client.get(f"/reports/{course.id}.csv", headers={"authorization": f"Bearer {admin_token}"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="course-{course.id}-report.csv"'
    assert response.headers["cache-control"] == "no-store"
    assert response.text.splitlines()[0].split(",") == HEADER
    rows = parse(response.text)
    assert [r["name"] for r in rows] == ["alice", "pat@example.com", "'=cmd@example.com"]
    alice, pat, _ = rows
    assert (
        alice["kind"],
        alice["email"],
        alice["status"],
        alice["progress"],
        alice["score"],
        alice["started_at"],
    ) == (
        "INTERNAL",
        "",
        "NOT_STARTED",
        "0.0",
        "",
        "",
    )
    assert (pat["kind"], pat["email"], pat["status"], pat["progress"], pat["score"], pat["attempts"]) == (
        "EXTERNAL",
        "pat@example.com",
        "PASSED",
        "0.5",
        "100",
        "1",
    )
    assert pat["started_at"] and pat["completed_at"] and pat["last_activity_at"] and pat["enrolled_at"]
    assert (pat["email_status"], pat["email_sent_at"], pat["email_error"]) == ("NOT_SENT", "", "")


async def test_a_large_course_comes_out_whole_across_batches(settings, admin_token):
    course = await make_course()
    await enroll_emails(settings, course, *(f"p{i:04d}@example.com" for i in range(2_500)))
    chunks = [chunk async for chunk in export.report_csv(course_id=course.id, batch_size=1_000)]
    assert len(chunks) == 3  # streamed a batch at a time, never the whole course at once
    rows = parse(b"".join(chunks).decode())
    assert len(rows) == 2_500 and rows[0]["name"] == "p0000@example.com" and rows[-1]["name"] == "p2499@example.com"


async def test_who_may_download_the_csv(settings, client, admin_token, reports_token):
    course = await make_course()
    url = f"/reports/{course.id}.csv"
    assert (await client.get(url, headers={"authorization": f"Bearer {reports_token}"})).status_code == 200

    anonymous = await client.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("text/plain")
    assert "Bearer" in anonymous.text
    assert (await client.get(url, headers={"authorization": "Bearer rst_not_a_token"})).status_code == 401
    assert (await client.get(url, headers={"authorization": "Basic abc"})).status_code == 401

    for missing in ("/reports/999999.csv", "/reports/abc.csv", "/reports/-3.csv"):
        response = await client.get(missing, headers={"authorization": f"Bearer {admin_token}"})
        assert response.status_code == 404 and response.text == "There is no such course.\n"

    await make_user("learner")
    await auth.set_password(username="learner", password=PASSWORD, actor="test")
    await sign_in(client, "learner")
    assert (await client.get(url)).status_code == 403

    admin = await make_user("boss")
    admin.is_admin = True
    await admin.save(update_fields=["is_admin"])
    await auth.set_password(username="boss", password=PASSWORD, actor="test")
    await sign_in(client, "boss")
    assert (await client.get(url)).status_code == 200
