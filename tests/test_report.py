"""The course report: keyset pagination in a stable order, filters, totals, constant query cost, access."""

from __future__ import annotations

import base64
import json

import pytest

from server.models import EmailStatus, Participant, ParticipantStatus
from tests.conftest import GraphQLClient, count_queries, error_code
from tests.factories import enroll_emails, enroll_usernames, make_course, make_user

REPORT = """
query($course: ID!, $first: Int, $after: String, $filter: ReportFilter, $order: ReportOrder! = ENROLLED, $descending: Boolean! = false) {
  courseReport(courseId: $course, first: $first, after: $after, filter: $filter, orderBy: $order, descending: $descending) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind name email status progress emailStatus enrolledAt user { username } } }
  }
}"""
STATUSES = [ParticipantStatus.NOT_STARTED, ParticipantStatus.IN_PROGRESS, ParticipantStatus.COMPLETED]
PROGRESS = [0.0, 0.5, 0.5, 1.0, 0.25]  # ties on purpose: the order must still be total


async def given_a_course_with_participants(settings, *, internal: int = 4, external: int = 11):
    """Internal users first, then external people; statuses, progress and email statuses vary, with ties."""
    course = await make_course("Report course")
    names = [f"user{i:02d}" for i in range(internal)]
    for name in names:
        await make_user(name, email=f"{name}@corp.example")
    await enroll_usernames(settings, course, *names)
    await enroll_emails(settings, course, *[f"Person{i:03d}@Example.com" for i in range(external)])
    for i, participant in enumerate(await Participant.filter(course_id=course.id).order_by("id")):
        participant.status = STATUSES[i % len(STATUSES)]
        participant.progress = PROGRESS[i % len(PROGRESS)]
        participant.email_status = EmailStatus.SENT if i % 4 == 0 else EmailStatus.NOT_SENT
        await participant.save(update_fields=["status", "progress", "email_status"])
    return course


async def walk(gql: GraphQLClient, course, *, first: int = 4, **variables) -> list[dict]:
    """Every node of the report, page by page, following endCursor."""
    nodes: list[dict] = []
    after = None
    for _ in range(100):
        page = (await gql.data(REPORT, {"course": course.id, "first": first, "after": after, **variables}))["courseReport"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert len(page["edges"]) <= first
            return nodes
        assert len(page["edges"]) == first
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    raise AssertionError("the report never ended")


@pytest.mark.parametrize("order", ["ENROLLED", "NAME", "PROGRESS", "STATUS"])
@pytest.mark.parametrize("descending", [False, True])
async def test_pagination_walks_every_row_exactly_once_in_a_stable_order(settings, gql, order, descending):
    course = await given_a_course_with_participants(settings)
    everyone = await Participant.filter(course_id=course.id)

    walked = await walk(gql, course, order=order, descending=descending)
    in_one_page = (await gql.data(REPORT, {"course": course.id, "first": 500, "order": order, "descending": descending}))["courseReport"]

    ids = [int(n["id"]) for n in walked]
    assert sorted(ids) == sorted(p.id for p in everyone), "every participant exactly once"
    assert ids == [int(e["node"]["id"]) for e in in_one_page["edges"]], "pages join up to the one-page order"
    key = {"ENROLLED": lambda n: 0, "NAME": lambda n: n["name"], "PROGRESS": lambda n: n["progress"], "STATUS": lambda n: n["status"]}[
        order
    ]
    if order in ("ENROLLED", "PROGRESS"):  # numbers: the database and Python agree on the order, ties broken by id
        expected = sorted(walked, key=lambda n: (key(n), int(n["id"])), reverse=descending)
        assert walked == expected
    if order == "NAME" and not descending:
        assert walked[0]["name"] != walked[-1]["name"]
    assert (await walk(gql, course, order=order, descending=descending, first=5)) == walked, "another page size, same order"


async def test_names_are_usernames_for_internal_and_emails_for_external(settings, gql):
    course = await given_a_course_with_participants(settings, internal=2, external=2)

    nodes = await walk(gql, course, first=10)

    assert [(n["kind"], n["name"], n["user"] and n["user"]["username"]) for n in nodes] == [
        ("INTERNAL", "user00", "user00"),
        ("INTERNAL", "user01", "user01"),
        ("EXTERNAL", "Person000@example.com", None),
        ("EXTERNAL", "Person001@example.com", None),
    ]


async def test_total_count_and_filters(settings, gql):
    course = await given_a_course_with_participants(settings, internal=4, external=11)

    async def report(flt: dict) -> tuple[int, list[dict]]:
        page = (await gql.data(REPORT, {"course": course.id, "first": 100, "filter": flt}))["courseReport"]
        return page["totalCount"], [e["node"] for e in page["edges"]]

    total, nodes = await report({})
    assert total == len(nodes) == 15
    total, nodes = await report({"kind": "INTERNAL"})
    assert total == 4 and {n["kind"] for n in nodes} == {"INTERNAL"}
    total, nodes = await report({"kind": "EXTERNAL"})
    assert total == 11 and {n["kind"] for n in nodes} == {"EXTERNAL"}
    total, nodes = await report({"status": "COMPLETED"})
    assert total == 5 and {n["status"] for n in nodes} == {"COMPLETED"}
    total, nodes = await report({"emailStatus": "SENT"})
    assert total == 4 and {n["emailStatus"] for n in nodes} == {"SENT"}
    total, nodes = await report({"search": "  PERSON00  "})  # trimmed, case-insensitive, on the email
    assert total == 10 and all(n["name"].startswith("Person00") for n in nodes)
    total, nodes = await report({"search": "user03"})  # on the username
    assert total == 1 and nodes[0]["name"] == "user03"
    total, nodes = await report({"search": "example.COM"})
    assert total == 11
    total, nodes = await report({"search": "nobody-matches-this"})
    assert (total, nodes) == (0, [])
    total, nodes = await report({"kind": "EXTERNAL", "status": "NOT_STARTED", "search": "person"})
    assert total == len(nodes) and all(n["kind"] == "EXTERNAL" and n["status"] == "NOT_STARTED" for n in nodes)

    filtered = await walk(gql, course, first=2, filter={"kind": "EXTERNAL"}, order="PROGRESS", descending=True)
    assert len(filtered) == 11 and len({n["id"] for n in filtered}) == 11


async def test_an_empty_course_has_an_empty_report(settings, gql):
    course = await make_course()
    page = (await gql.data(REPORT, {"course": course.id, "first": 10}))["courseReport"]
    assert page == {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "!!!",
        base64.urlsafe_b64encode(b"{}").decode(),
        base64.urlsafe_b64encode(json.dumps(["x", "not-an-id"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps([{"a": 1}, 3]).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_bad_cursor_is_bad_user_input(settings, gql, cursor):
    course = await given_a_course_with_participants(settings, internal=1, external=2)
    body = await gql(REPORT, {"course": course.id, "first": 2, "after": cursor, "order": "NAME"})
    assert error_code(body) == "BAD_USER_INPUT"
    assert body["data"] is None


async def test_page_sizes_beyond_the_limit_and_bad_course_ids_are_refused(settings, gql):
    course = await make_course()
    limit = settings.max_page_size
    assert error_code(await gql(REPORT, {"course": course.id, "first": limit + 1})) == "BAD_USER_INPUT"
    assert error_code(await gql(REPORT, {"course": course.id, "first": -1})) == "BAD_USER_INPUT"
    assert "errors" not in await gql(REPORT, {"course": course.id, "first": limit})
    assert error_code(await gql(REPORT, {"course": "abc"})) == "BAD_USER_INPUT"
    assert error_code(await gql(REPORT, {"course": "424242"})) == "NOT_FOUND"


async def test_a_page_costs_the_same_queries_whatever_its_size_and_the_course_size(settings, gql):
    small = await given_a_course_with_participants(settings, internal=12, external=100)
    big = await make_course("Big course")
    await enroll_usernames(settings, big, *[f"user{i:02d}" for i in range(12)])
    await enroll_emails(settings, big, *[f"big{i:04d}@example.com" for i in range(400)])

    costs = {}
    for course, first in ((small, 10), (small, 100), (big, 10), (big, 100)):
        for order in ("ENROLLED", "NAME"):
            with count_queries() as queries:
                page = (await gql.data(REPORT, {"course": course.id, "first": first, "order": order}))["courseReport"]
            assert len(page["edges"]) == first
            costs[(course.title, first, order)] = queries.count

    for order in ("ENROLLED", "NAME"):
        same_order = {k: v for k, v in costs.items() if k[2] == order}
        assert len(set(same_order.values())) == 1, costs
    assert max(costs.values()) <= 5, costs  # token, course, count, page, and the page's users (one IN query)


async def test_a_reports_token_may_read_the_report_and_no_token_may_not(settings, client, reports_token):
    course = await given_a_course_with_participants(settings, internal=1, external=1)
    integration = GraphQLClient(client, reports_token)

    page = (await integration.data(REPORT, {"course": course.id, "first": 10}))["courseReport"]
    assert page["totalCount"] == 2

    anonymous = await GraphQLClient(client)(REPORT, {"course": course.id})
    assert error_code(anonymous) == "UNAUTHENTICATED" and anonymous["data"] is None
    wrong = await GraphQLClient(client, "rst_not-a-real-token")(REPORT, {"course": course.id})
    assert error_code(wrong) == "UNAUTHENTICATED" and wrong["data"] is None


async def test_the_enrollment_result_and_the_report_agree_on_every_field(settings, gql):
    course = await make_course()
    await make_user("alice", email="alice@corp.example")
    enrolled = await gql.data(
        'mutation($c: ID!) { enrollParticipants(courseId: $c, usernames: ["alice"], sendEmail: false)'
        " { enrolled { participant { id kind name email status progress emailStatus enrolledAt user { username } } } } }",
        {"c": course.id},
    )
    from_result = enrolled["enrollParticipants"]["enrolled"][0]["participant"]

    (from_report,) = await walk(gql, course)

    assert from_result == from_report
    assert from_result["enrolledAt"] is not None
