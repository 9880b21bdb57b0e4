"""Taking a course: content, link-scoped actions, statuses, scoring, and the report's new orders."""

from __future__ import annotations

import asyncio

from server.models import AuditEvent, LessonCompletion, Participant, QuizAttempt
from tests.conftest import count_queries, error_code
from tests.factories import enroll_emails, make_course

CREATE_LESSON = """
mutation($course: ID!, $title: String!, $body: String!) {
  createLesson(courseId: $course, input: {title: $title, body: $body}) { id position title body html completed }
}"""
SET_QUIZ = """
mutation($course: ID!, $input: QuizInput!) {
  setQuiz(courseId: $course, input: $input) { id passMark maxAttempts questions { id text choices { id text correct } } }
}"""
VIEW = """
query($link: String!) {
  participantView(link: $link) {
    participant { id status progress score attempts startedAt completedAt lastActivityAt }
    course { id title published lessons { id title html completed } quiz { passMark maxAttempts questions { id text choices { id text correct } } } }
  }
}"""
COMPLETE = """
mutation($lesson: ID!, $link: String) {
  completeLesson(lessonId: $lesson, link: $link) { id status progress score attempts startedAt completedAt lastActivityAt }
}"""
SUBMIT = """
mutation($course: ID!, $answers: [QuizAnswerInput!]!, $link: String) {
  submitQuiz(courseId: $course, answers: $answers, link: $link) {
    number score passed attemptsLeft participant { status score attempts completedAt }
  }
}"""
REPORT = """
query($course: ID!, $after: String, $order: ReportOrder!, $desc: Boolean!, $status: ParticipantStatus) {
  courseReport(courseId: $course, first: 2, after: $after, orderBy: $order, descending: $desc, filter: {status: $status}) {
    edges { node { name status score lastActivityAt } cursor } pageInfo { hasNextPage endCursor } totalCount
  }
}"""


async def course_with_lessons(gql, titles=("Intro", "Hazards"), *, published: bool = True, title: str = "Safety basics"):
    course = await make_course(title, published=published)
    lessons = []
    for name in titles:
        data = await gql.data(CREATE_LESSON, {"course": course.id, "title": name, "body": f"# {name}\n\nRead *this*."})
        lessons.append(data["createLesson"])
    return course, lessons


def question(text: str, choices: list[tuple[str, bool]]) -> dict:
    return {"text": text, "choices": [{"text": t, "correct": c} for t, c in choices]}


async def add_quiz(gql, course, *, pass_mark: int, max_attempts: int | None, questions: list[dict]) -> list[dict]:
    data = await gql.data(
        SET_QUIZ, {"course": course.id, "input": {"passMark": pass_mark, "maxAttempts": max_attempts, "questions": questions}}
    )
    return data["setQuiz"]["questions"]


def right_answers(questions: list[dict]) -> list[dict]:
    return [{"questionId": q["id"], "choiceIds": [c["id"] for c in q["choices"] if c["correct"]]} for q in questions]


def wrong_answers(questions: list[dict]) -> list[dict]:
    return [{"questionId": q["id"], "choiceIds": [c["id"] for c in q["choices"] if not c["correct"]][:1]} for q in questions]


async def link_for(settings, course, email: str = "pat@example.com") -> str:
    return (await enroll_emails(settings, course, email)).enrolled[0].link


FIVE_QUESTIONS = [question(f"Q{i}", [("yes", True), ("no", False)]) for i in range(5)]


async def test_managers_write_ordered_lessons_and_see_the_answers(gql):
    course, lessons = await course_with_lessons(gql, ("One", "Two", "Three"))
    assert [lesson["position"] for lesson in lessons] == [0, 1, 2]
    assert lessons[0]["completed"] is None

    updated = await gql.data(
        'mutation($id: ID!) { updateLesson(lessonId: $id, input: {title: "Uno", body: "**bold**"}) { title html } }',
        {"id": lessons[0]["id"]},
    )
    assert updated["updateLesson"] == {"title": "Uno", "html": "<p><strong>bold</strong></p>\n"}
    order = [lessons[2]["id"], lessons[0]["id"], lessons[1]["id"]]
    reordered = await gql.data(
        "mutation($c: ID!, $ids: [ID!]!) { reorderLessons(courseId: $c, lessonIds: $ids) { id } }", {"c": course.id, "ids": order}
    )
    assert [lesson["id"] for lesson in reordered["reorderLessons"]] == order
    assert await gql.data("mutation($id: ID!) { deleteLesson(lessonId: $id) }", {"id": lessons[1]["id"]}) == {"deleteLesson": True}
    await add_quiz(
        gql,
        course,
        pass_mark=50,
        max_attempts=None,
        questions=[question("Pick the colours", [("red", True), ("blue", True), ("cat", False)])],
    )

    data = await gql.data(
        "query($id: ID!) { course(id: $id) { lessons { title } quiz { passMark maxAttempts questions { text choices { text correct } } } } }",
        {"id": course.id},
    )
    assert [lesson["title"] for lesson in data["course"]["lessons"]] == ["Three", "Uno"]
    quiz = data["course"]["quiz"]
    assert quiz["passMark"] == 50 and quiz["maxAttempts"] is None
    assert quiz["questions"][0]["choices"] == [
        {"text": "red", "correct": True},
        {"text": "blue", "correct": True},
        {"text": "cat", "correct": False},
    ]


async def test_content_input_is_checked(gql):
    course, lessons = await course_with_lessons(gql, ("One", "Two"))
    assert error_code(await gql(CREATE_LESSON, {"course": course.id, "title": "  ", "body": ""})) == "BAD_USER_INPUT"
    bad_order = {"c": course.id, "ids": [lessons[0]["id"]]}
    assert (
        error_code(await gql("mutation($c: ID!, $ids: [ID!]!) { reorderLessons(courseId: $c, lessonIds: $ids) { id } }", bad_order))
        == "BAD_USER_INPUT"
    )
    no_correct = [question("Q", [("a", False), ("b", False)])]
    body = await gql(SET_QUIZ, {"course": course.id, "input": {"passMark": 80, "questions": no_correct}})
    assert error_code(body) == "BAD_USER_INPUT"
    body = await gql(SET_QUIZ, {"course": course.id, "input": {"passMark": 101, "questions": FIVE_QUESTIONS}})
    assert error_code(body) == "BAD_USER_INPUT"
    assert error_code(await gql('mutation { deleteLesson(lessonId: "999") }')) == "NOT_FOUND"
    anonymous = await gql(CREATE_LESSON, {"course": course.id, "title": "x", "body": ""}, token="nope")
    assert error_code(anonymous) == "UNAUTHENTICATED"


async def test_markdown_becomes_safe_html(gql):
    course = await make_course()
    body = (
        "Hello <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) [ok](https://example.com)\n\n<div onclick='x()'>raw</div>"
    )
    html = (await gql.data(CREATE_LESSON, {"course": course.id, "title": "T", "body": body}))["createLesson"]["html"]
    assert "<script" not in html and "<img" not in html and "<div" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # raw HTML is shown as text, not passed through
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html


async def test_opening_a_link_changes_nothing_and_never_shows_answers(settings, gql):
    course, _ = await course_with_lessons(gql)
    await add_quiz(gql, course, pass_mark=80, max_attempts=3, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)

    for _ in range(2):
        view = (await gql.data(VIEW, {"link": link}, token="none"))["participantView"]
    participant = view["participant"]
    assert participant["status"] == "NOT_STARTED" and participant["startedAt"] is None and participant["lastActivityAt"] is None
    assert [lesson["completed"] for lesson in view["course"]["lessons"]] == [False, False]
    assert "<h1>Intro</h1>" in view["course"]["lessons"][0]["html"]
    choices = [c for q in view["course"]["quiz"]["questions"] for c in q["choices"]]
    assert choices and all(c["correct"] is None for c in choices)
    # An admin opening a participant's link sees it as the participant does: no answers.
    admin_view = (await gql.data(VIEW, {"link": link}))["participantView"]
    assert all(c["correct"] is None for q in admin_view["course"]["quiz"]["questions"] for c in q["choices"])


async def test_lessons_take_a_participant_from_not_started_to_completed(settings, gql):
    course, lessons = await course_with_lessons(gql)
    link = await link_for(settings, course)

    first = (await gql.data(COMPLETE, {"lesson": lessons[0]["id"], "link": link}, token="none"))["completeLesson"]
    assert first["status"] == "IN_PROGRESS" and first["progress"] == 0.5
    assert first["startedAt"] is not None and first["lastActivityAt"] is not None and first["completedAt"] is None
    again = (await gql.data(COMPLETE, {"lesson": lessons[0]["id"], "link": link}, token="none"))["completeLesson"]
    assert again["progress"] == 0.5 and again["startedAt"] == first["startedAt"]
    done = (await gql.data(COMPLETE, {"lesson": lessons[1]["id"], "link": link}, token="none"))["completeLesson"]
    assert done["status"] == "COMPLETED" and done["progress"] == 1.0 and done["completedAt"] is not None

    view = (await gql.data(VIEW, {"link": link}, token="none"))["participantView"]
    assert [lesson["completed"] for lesson in view["course"]["lessons"]] == [True, True]
    report = await gql.data(REPORT, {"course": course.id, "order": "ENROLLED", "desc": False, "status": "COMPLETED"})
    assert [e["node"]["name"] for e in report["courseReport"]["edges"]] == ["pat@example.com"]


async def test_double_completion_at_the_same_moment_counts_once(settings, gql):
    course, lessons = await course_with_lessons(gql, ("One", "Two", "Three"))
    link = await link_for(settings, course)
    await asyncio.gather(*(gql.data(COMPLETE, {"lesson": lesson["id"], "link": link}) for lesson in lessons[:2] for _ in range(4)))
    participant = await Participant.get(course_id=course.id)
    assert await LessonCompletion.filter(participant_id=participant.id).count() == 2
    assert abs(participant.progress - 2 / 3) < 1e-9 and participant.status == "IN_PROGRESS"


async def test_a_quiz_is_scored_on_the_server_with_multi_answer_questions_all_or_nothing(settings, gql):
    course, _ = await course_with_lessons(gql, ("Only",))
    questions = await add_quiz(
        gql,
        course,
        pass_mark=50,
        max_attempts=None,
        questions=[
            question("Colours?", [("red", True), ("blue", True), ("cat", False)]),
            question("Sky?", [("up", True), ("down", False)]),
        ],
    )
    link = await link_for(settings, course)
    multi, single = questions
    red, blue, cat = (c["id"] for c in multi["choices"])
    up = single["choices"][0]["id"]

    def answers(picked: list[str]) -> list[dict]:
        return [{"questionId": multi["id"], "choiceIds": picked}, {"questionId": single["id"], "choiceIds": [up]}]

    scores = []
    for picked in ([red], [red, blue, cat], [blue, red]):
        attempt = (await gql.data(SUBMIT, {"course": course.id, "answers": answers(picked), "link": link}, token="none"))["submitQuiz"]
        scores.append((attempt["score"], attempt["passed"], attempt["number"]))
    # A subset or a superset of the right choices is wrong; exactly the set is right.
    assert scores == [(50, True, 1), (50, True, 2), (100, True, 3)]
    participant = (await gql.data(VIEW, {"link": link}))["participantView"]["participant"]
    assert participant["status"] == "PASSED" and participant["score"] == 100 and participant["attempts"] == 3
    assert participant["completedAt"] is not None


async def test_pass_mark_boundaries(settings, gql):
    course = await make_course()
    questions = await add_quiz(gql, course, pass_mark=80, max_attempts=None, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    three_right = right_answers(questions)[:3] + wrong_answers(questions)[3:]
    attempt = (await gql.data(SUBMIT, {"course": course.id, "answers": three_right, "link": link}))["submitQuiz"]
    assert (attempt["score"], attempt["passed"], attempt["participant"]["status"]) == (60, False, "IN_PROGRESS")
    four_right = right_answers(questions)[:4]  # the fifth unanswered counts as wrong
    attempt = (await gql.data(SUBMIT, {"course": course.id, "answers": four_right, "link": link}))["submitQuiz"]
    assert (attempt["score"], attempt["passed"], attempt["participant"]["status"]) == (80, True, "PASSED")

    thirds = await make_course("Thirds")
    questions = await add_quiz(gql, thirds, pass_mark=67, max_attempts=None, questions=FIVE_QUESTIONS[:3])
    link = await link_for(settings, thirds)
    two_of_three = right_answers(questions)[:2]
    attempt = (await gql.data(SUBMIT, {"course": thirds.id, "answers": two_of_three, "link": link}))["submitQuiz"]
    # 2/3 is 66.7%: short of 67, and shown rounded down so the score never looks like a pass.
    assert (attempt["score"], attempt["passed"]) == (66, False)


async def test_using_up_the_attempts_fails_the_participant_and_further_attempts_are_refused(settings, gql):
    course = await make_course()
    questions = await add_quiz(gql, course, pass_mark=100, max_attempts=2, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    first = (await gql.data(SUBMIT, {"course": course.id, "answers": wrong_answers(questions), "link": link}))["submitQuiz"]
    assert first["attemptsLeft"] == 1 and first["participant"]["status"] == "IN_PROGRESS"
    second = (await gql.data(SUBMIT, {"course": course.id, "answers": right_answers(questions)[:4], "link": link}))["submitQuiz"]
    assert second["attemptsLeft"] == 0 and second["score"] == 80
    assert second["participant"]["status"] == "FAILED" and second["participant"]["completedAt"] is not None
    third = await gql(SUBMIT, {"course": course.id, "answers": right_answers(questions), "link": link})
    assert error_code(third) == "FORBIDDEN" and third["data"] is None
    participant = await Participant.get(course_id=course.id)
    assert (participant.status, participant.attempts, participant.score) == ("FAILED", 2, 80)


async def test_concurrent_submissions_never_exceed_the_attempt_limit(settings, gql):
    course = await make_course()
    questions = await add_quiz(gql, course, pass_mark=100, max_attempts=2, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    bodies = await asyncio.gather(
        *(gql(SUBMIT, {"course": course.id, "answers": wrong_answers(questions), "link": link}) for _ in range(6))
    )
    accepted = [b for b in bodies if not b.get("errors")]
    assert len(accepted) == 2
    assert all(error_code(b) == "FORBIDDEN" for b in bodies if b.get("errors"))
    participant = await Participant.get(course_id=course.id)
    assert await QuizAttempt.filter(participant_id=participant.id).count() == 2
    assert (participant.attempts, participant.status) == (2, "FAILED")


async def test_answers_must_belong_to_the_quiz(settings, gql):
    course = await make_course()
    questions = await add_quiz(gql, course, pass_mark=50, max_attempts=1, questions=FIVE_QUESTIONS)
    other = await make_course("Other")
    other_questions = await add_quiz(gql, other, pass_mark=50, max_attempts=1, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    foreign = right_answers(other_questions)[:1]
    twice = right_answers(questions)[:1] * 2
    mixed = [{"questionId": questions[0]["id"], "choiceIds": [other_questions[0]["choices"][0]["id"]]}]
    for answers in (foreign, twice, mixed, [{"questionId": "x", "choiceIds": []}]):
        assert error_code(await gql(SUBMIT, {"course": course.id, "answers": answers, "link": link})) == "BAD_USER_INPUT"
    assert await QuizAttempt.all().count() == 0
    no_quiz = await make_course("No quiz")
    assert error_code(await gql(SUBMIT, {"course": no_quiz.id, "answers": [], "link": await link_for(settings, no_quiz)})) == "NOT_FOUND"


async def test_a_link_reaches_only_its_own_participant_and_course(settings, gql):
    course, lessons = await course_with_lessons(gql)
    other, other_lessons = await course_with_lessons(gql, ("Elsewhere",), title="Other")
    other_questions = await add_quiz(gql, other, pass_mark=50, max_attempts=None, questions=FIVE_QUESTIONS)
    pat = await link_for(settings, course, "pat@example.com")
    await link_for(settings, course, "sam@example.com")
    await link_for(settings, other, "pat@example.com")

    cross_lesson = await gql(COMPLETE, {"lesson": other_lessons[0]["id"], "link": pat}, token="none")
    unknown_lesson = await gql(COMPLETE, {"lesson": "424242", "link": pat}, token="none")
    assert error_code(cross_lesson) == error_code(unknown_lesson) == "NOT_FOUND"
    assert cross_lesson["errors"][0]["message"] == unknown_lesson["errors"][0]["message"]
    assert cross_lesson["data"] is None
    cross_quiz = await gql(SUBMIT, {"course": other.id, "answers": right_answers(other_questions), "link": pat}, token="none")
    assert error_code(cross_quiz) == "NOT_FOUND" and cross_quiz["data"] is None

    forged = pat[:-3] + ("AAA" if not pat.endswith("AAA") else "BBB")
    for bad in (forged, "", "nonsense"):
        assert error_code(await gql(COMPLETE, {"lesson": lessons[0]["id"], "link": bad}, token="none")) == "UNAUTHENTICATED"
    no_credential = await gql(COMPLETE, {"lesson": lessons[0]["id"]}, token="none")
    assert error_code(no_credential) == "UNAUTHENTICATED"

    # Nobody's progress moved: not sam's in this course, not pat's own in the other.
    assert await LessonCompletion.all().count() == 0
    assert await QuizAttempt.all().count() == 0
    assert set(await Participant.all().values_list("status", flat=True)) == {"NOT_STARTED"}


async def test_a_draft_course_cannot_be_opened_or_acted_on(settings, gql):
    course, lessons = await course_with_lessons(gql, published=False)
    await add_quiz(gql, course, pass_mark=50, max_attempts=None, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    assert (await gql.data(VIEW, {"link": link}))["participantView"] is None
    assert error_code(await gql(COMPLETE, {"lesson": lessons[0]["id"], "link": link})) == "UNAUTHENTICATED"
    assert error_code(await gql(SUBMIT, {"course": course.id, "answers": [], "link": link})) == "UNAUTHENTICATED"
    assert (await Participant.get(course_id=course.id)).status == "NOT_STARTED"


async def test_removal_takes_progress_and_attempts_and_the_link_stops_working(settings, gql):
    course, lessons = await course_with_lessons(gql)
    questions = await add_quiz(gql, course, pass_mark=100, max_attempts=None, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    await gql.data(COMPLETE, {"lesson": lessons[0]["id"], "link": link})
    await gql.data(SUBMIT, {"course": course.id, "answers": right_answers(questions)[:3], "link": link})
    participant = await Participant.get(course_id=course.id)

    await gql.data("mutation($id: ID!) { removeParticipant(participantId: $id) { removed } }", {"id": participant.id})

    assert await LessonCompletion.all().count() == 0 and await QuizAttempt.all().count() == 0
    assert (await gql.data(VIEW, {"link": link}))["participantView"] is None
    assert error_code(await gql(COMPLETE, {"lesson": lessons[1]["id"], "link": link})) == "UNAUTHENTICATED"
    event = await AuditEvent.get(action="participant.remove")
    assert event.detail["status"] == "IN_PROGRESS" and event.detail["progress"] == 0.5 and event.detail["score"] == 60


async def test_deleting_a_lesson_recounts_everyone_s_progress(settings, gql):
    course, lessons = await course_with_lessons(gql, ("One", "Two", "Three", "Four"))
    link = await link_for(settings, course)
    await gql.data(COMPLETE, {"lesson": lessons[0]["id"], "link": link})
    await gql.data("mutation($id: ID!) { deleteLesson(lessonId: $id) }", {"id": lessons[3]["id"]})
    assert abs((await Participant.get(course_id=course.id)).progress - 1 / 3) < 1e-9
    await gql.data(CREATE_LESSON, {"course": course.id, "title": "Five", "body": ""})
    assert (await Participant.get(course_id=course.id)).progress == 0.25


async def test_opening_a_course_costs_the_same_queries_however_many_lessons_and_questions(settings, gql):
    small, _ = await course_with_lessons(gql, ("One",), title="Small")
    await add_quiz(gql, small, pass_mark=50, max_attempts=None, questions=FIVE_QUESTIONS[:1])
    big, lessons = await course_with_lessons(gql, [f"L{i}" for i in range(12)], title="Big")
    await add_quiz(gql, big, pass_mark=50, max_attempts=None, questions=FIVE_QUESTIONS * 4)
    small_link, big_link = await link_for(settings, small), await link_for(settings, big)
    for lesson in lessons[:5]:
        await gql.data(COMPLETE, {"lesson": lesson["id"], "link": big_link})

    with count_queries() as one:
        await gql.data(VIEW, {"link": small_link}, token="none")
    with count_queries() as many:
        view = (await gql.data(VIEW, {"link": big_link}, token="none"))["participantView"]
    assert len(view["course"]["lessons"]) == 12 and len(view["course"]["quiz"]["questions"]) == 20
    assert sum(lesson["completed"] for lesson in view["course"]["lessons"]) == 5
    assert many.count == one.count, (one.statements, many.statements)


async def walk(gql, course, order: str, desc: bool) -> list[str]:
    names, after = [], None
    while True:
        page = (await gql.data(REPORT, {"course": course.id, "after": after, "order": order, "desc": desc}))["courseReport"]
        names += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


async def test_the_report_sorts_by_score_and_last_activity_with_the_unscored_last(settings, gql):
    course, lessons = await course_with_lessons(gql, ("One",))
    questions = await add_quiz(gql, course, pass_mark=80, max_attempts=1, questions=FIVE_QUESTIONS)
    emails = [f"p{i}@example.com" for i in range(7)]
    result = await enroll_emails(settings, course, *emails)
    link = {e.participant.name: e.link for e in result.enrolled}
    # Scores: p0 100, p1 40, p2 80, p3 40, p4..p6 none (p4 active through a lesson, p5 and p6 idle).
    for name, right in (("p3", 2), ("p0", 5), ("p2", 4), ("p1", 2)):
        await gql.data(SUBMIT, {"course": course.id, "answers": right_answers(questions)[:right], "link": link[f"{name}@example.com"]})
    await gql.data(COMPLETE, {"lesson": lessons[0]["id"], "link": link["p4@example.com"]})

    short = [n.split("@")[0] for n in await walk(gql, course, "SCORE", False)]
    assert short == ["p1", "p3", "p2", "p0", "p4", "p5", "p6"]
    short = [n.split("@")[0] for n in await walk(gql, course, "SCORE", True)]
    assert short == ["p0", "p2", "p3", "p1", "p6", "p5", "p4"]
    short = [n.split("@")[0] for n in await walk(gql, course, "LAST_ACTIVITY", False)]
    assert short == ["p3", "p0", "p2", "p1", "p4", "p5", "p6"]
    short = [n.split("@")[0] for n in await walk(gql, course, "LAST_ACTIVITY", True)]
    assert short == ["p4", "p1", "p2", "p0", "p3", "p6", "p5"]

    passed = await gql.data(REPORT, {"course": course.id, "order": "NAME", "desc": False, "status": "PASSED"})
    assert [e["node"]["name"] for e in passed["courseReport"]["edges"]] == ["p0@example.com", "p2@example.com"]
    failed = await gql.data(REPORT, {"course": course.id, "order": "NAME", "desc": False, "status": "FAILED"})
    assert failed["courseReport"]["totalCount"] == 2
    assert error_code(await gql(REPORT, {"course": course.id, "order": "SCORE", "desc": False, "after": "bm9wZQ=="})) == "BAD_USER_INPUT"


async def test_listing_courses_with_their_content_costs_the_same_queries_for_one_or_many(gql):
    course, _ = await course_with_lessons(gql, ("One",), title="First")
    await add_quiz(gql, course, pass_mark=50, max_attempts=None, questions=FIVE_QUESTIONS[:2])
    query = "{ courses { title published lessons { title } quiz { passMark questions { text choices { text correct } } } } }"
    with count_queries() as one:
        await gql.data(query)
    for i in range(4):
        more, _ = await course_with_lessons(gql, ("A", "B"), title=f"More {i}")
        await add_quiz(gql, more, pass_mark=50, max_attempts=None, questions=FIVE_QUESTIONS)
    with count_queries() as many:
        data = await gql.data(query)
    assert len(data["courses"]) == 5 and all(c["quiz"] and c["lessons"] for c in data["courses"])
    assert many.count == one.count, (one.statements, many.statements)


async def test_with_a_quiz_lessons_alone_never_finish_the_course_and_passed_stays_passed(settings, gql):
    course, lessons = await course_with_lessons(gql)
    questions = await add_quiz(gql, course, pass_mark=60, max_attempts=3, questions=FIVE_QUESTIONS)
    link = await link_for(settings, course)
    for lesson in lessons:
        after_lessons = (await gql.data(COMPLETE, {"lesson": lesson["id"], "link": link}))["completeLesson"]
    assert (after_lessons["status"], after_lessons["progress"], after_lessons["completedAt"]) == ("IN_PROGRESS", 1.0, None)

    passed = (await gql.data(SUBMIT, {"course": course.id, "answers": right_answers(questions)[:3], "link": link}))["submitQuiz"]
    assert passed["participant"]["status"] == "PASSED" and passed["attemptsLeft"] == 2
    worse = (await gql.data(SUBMIT, {"course": course.id, "answers": wrong_answers(questions), "link": link}))["submitQuiz"]
    assert (worse["score"], worse["passed"]) == (0, False)
    assert worse["participant"]["status"] == "PASSED" and worse["participant"]["score"] == 60
    assert worse["participant"]["completedAt"] == passed["participant"]["completedAt"]
