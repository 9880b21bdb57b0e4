"""Enrollment through GraphQL: per-entry results, the rules of DESIGN.md, and links."""

from __future__ import annotations

import asyncio

from server.models import AuditEvent, Participant
from tests.conftest import count_queries, error_code
from tests.factories import make_course, make_group, make_user, make_users

ENROLL = """
mutation($course: ID!, $usernames: [String!]! = [], $groups: [String!]! = []) {
  enrollParticipants(courseId: $course, usernames: $usernames, groups: $groups, sendEmail: false) {
    enrolled { link participant { id kind name enrolledVia user { username } status progress emailStatus } }
    skipped { entry reason message participant { id } suggestedUser { username } }
  }
}"""
ENROLL_EXTERNAL = """
mutation($course: ID!, $emails: [String!]!) {
  enrollExternal(courseId: $course, emails: $emails, sendEmail: false) {
    enrolled { link participant { id kind name email } }
    skipped { entry reason message participant { id } suggestedUser { username } }
  }
}"""
VIEW = "query($link: String!) { participantView(link: $link) { participant { id name kind } course { id title } } }"
REMOVE = "mutation($id: ID!) { removeParticipant(participantId: $id) { removed participantId } }"


def reasons(result: dict) -> dict[str, str]:
    return {s["entry"]: s["reason"] for s in result["skipped"]}


async def test_enrolling_users_and_a_group_reports_every_entry(gql):
    course = await make_course()
    await make_user("alice")
    await make_user("bob")
    await make_user("gone", active=False)
    await make_group("sales", ["bob", "gone"])
    await make_group("empty", [])

    data = await gql.data(
        ENROLL,
        {"course": course.id, "usernames": ["alice", " alice ", "nobody", "gone", ""], "groups": ["sales", "nosuch", "sales"]},
    )
    result = data["enrollParticipants"]

    enrolled = {e["participant"]["name"]: e["participant"] for e in result["enrolled"]}
    assert set(enrolled) == {"alice", "bob"}
    assert enrolled["alice"]["enrolledVia"] is None
    assert enrolled["bob"]["enrolledVia"] == "group:sales"
    assert enrolled["bob"]["kind"] == "INTERNAL" and enrolled["bob"]["user"]["username"] == "bob"
    assert enrolled["bob"]["status"] == "NOT_STARTED" and enrolled["bob"]["progress"] == 0.0
    assert enrolled["bob"]["emailStatus"] == "NOT_SENT"
    assert reasons(result) == {
        "alice": "DUPLICATE_ENTRY",
        "nobody": "UNKNOWN_USER",
        "gone": "INACTIVE_USER",
        "": "UNKNOWN_USER",
        "nosuch": "UNKNOWN_GROUP",
        "sales": "DUPLICATE_ENTRY",
    }
    assert await Participant.filter(course_id=course.id).count() == 2
    assert await AuditEvent.filter(action="participant.enroll").count() == 2


async def test_the_same_person_cannot_be_enrolled_twice(gql):
    course = await make_course()
    await make_user("alice")
    first = await gql.data(ENROLL, {"course": course.id, "usernames": ["alice"]})
    again = await gql.data(ENROLL, {"course": course.id, "usernames": ["alice"]})
    assert again["enrollParticipants"]["enrolled"] == []
    skipped = again["enrollParticipants"]["skipped"][0]
    assert skipped["reason"] == "ALREADY_ENROLLED"
    assert skipped["participant"]["id"] == first["enrollParticipants"]["enrolled"][0]["participant"]["id"]


async def test_external_emails_are_normalized_and_compared_case_insensitively(gql):
    course = await make_course()
    await make_user("alice", email="alice@corp.example")
    data = await gql.data(
        ENROLL_EXTERNAL,
        {
            "course": course.id,
            "emails": [
                "  Pat@Example.COM ",
                "pat@example.com",
                "not-an-email",
                "x@y.example\r\nBcc: evil@x.example",
                "ALICE@corp.example",
                "zoë@bücher.de",
            ],
        },
    )
    result = data["enrollExternal"]
    names = [e["participant"]["name"] for e in result["enrolled"]]
    assert names == ["Pat@example.com", "zoë@bücher.de"]
    assert all(e["participant"]["kind"] == "EXTERNAL" for e in result["enrolled"])
    by_reason = reasons(result)
    assert by_reason["pat@example.com"] == "DUPLICATE_ENTRY"
    assert by_reason["not-an-email"] == "INVALID_EMAIL"
    assert by_reason["x@y.example\r\nBcc: evil@x.example"] == "INVALID_EMAIL"
    assert by_reason["ALICE@corp.example"] == "INTERNAL_USER_EMAIL"
    internal = next(s for s in result["skipped"] if s["reason"] == "INTERNAL_USER_EMAIL")
    assert internal["suggestedUser"]["username"] == "alice"

    again = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": ["PAT@EXAMPLE.COM"]})
    assert reasons(again["enrollExternal"]) == {"PAT@EXAMPLE.COM": "ALREADY_ENROLLED"}


async def test_a_link_opens_its_participant_and_nothing_else(gql, client):
    course = await make_course("Fire drill")
    enrolled = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": ["pat@example.com"]})
    link = enrolled["enrollExternal"]["enrolled"][0]["link"]
    assert link.startswith("http://roster.test/learn#")
    value = link.split("#", 1)[1]

    for form in (value, link):
        view = (await gql.data(VIEW, {"link": form}, token="none"))["participantView"]
        assert view["participant"]["name"] == "pat@example.com"
        assert view["course"]["title"] == "Fire drill"

    # A middle character of the signature: the last one carries two padding bits base64 ignores.
    tampered = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
    for bad in (tampered, value[:20], "", "x" * 5000, "not.a.link", value + "x"):
        with count_queries() as queries:
            body = await gql(VIEW, {"link": bad})
        assert body["data"]["participantView"] is None
        assert queries.count == 0, f"a bad signature must not reach the database: {queries.statements}"


async def test_removal_revokes_the_link_and_re_enrollment_gives_a_fresh_one(gql):
    course = await make_course()
    first = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": ["pat@example.com"]})
    old = first["enrollExternal"]["enrolled"][0]
    removed = await gql.data(REMOVE, {"id": old["participant"]["id"]})
    assert removed["removeParticipant"] == {"removed": True, "participantId": old["participant"]["id"]}
    assert (await gql.data(VIEW, {"link": old["link"]}))["participantView"] is None

    again = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": ["pat@example.com"]})
    new = again["enrollExternal"]["enrolled"][0]
    assert new["link"] != old["link"]
    assert (await gql.data(VIEW, {"link": new["link"]}))["participantView"]["participant"]["name"] == "pat@example.com"
    event = await AuditEvent.get(action="participant.remove")
    assert event.actor == "token:test admin" and event.detail["status"] == "NOT_STARTED"

    body = await gql(REMOVE, {"id": old["participant"]["id"]})
    assert error_code(body) == "NOT_FOUND"


async def test_regenerating_a_link_stops_the_old_one(gql):
    course = await make_course()
    first = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": ["pat@example.com"]})
    old = first["enrollExternal"]["enrolled"][0]
    regen = await gql.data(
        "mutation($id: ID!) { regenerateLink(participantId: $id, sendEmail: false) { link participant { id } } }",
        {"id": old["participant"]["id"]},
    )
    new_link = regen["regenerateLink"]["link"]
    assert new_link != old["link"]
    assert (await gql.data(VIEW, {"link": old["link"]}))["participantView"] is None
    assert (await gql.data(VIEW, {"link": new_link}))["participantView"]["participant"]["id"] == old["participant"]["id"]
    assert await AuditEvent.filter(action="participant.regenerate_link").count() == 1


async def test_a_draft_course_cannot_be_opened_by_link(gql):
    course = await make_course(published=False)
    enrolled = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": ["pat@example.com"]})
    link = enrolled["enrollExternal"]["enrolled"][0]["link"]
    assert (await gql.data(VIEW, {"link": link}))["participantView"] is None
    await gql.data("mutation($id: ID!) { publishCourse(courseId: $id) { published } }", {"id": course.id})
    assert (await gql.data(VIEW, {"link": link}))["participantView"] is not None


async def test_bad_ids_and_empty_lists_are_clear_errors(gql):
    course = await make_course()
    assert error_code(await gql(ENROLL, {"course": "abc"})) == "BAD_USER_INPUT"
    assert error_code(await gql(ENROLL, {"course": "999999"})) == "NOT_FOUND"
    assert error_code(await gql(ENROLL, {"course": "-1"})) == "NOT_FOUND"
    assert error_code(await gql(ENROLL, {"course": "99999999999999999999"})) == "NOT_FOUND"
    assert error_code(await gql(REMOVE, {"id": "1.5"})) == "BAD_USER_INPUT"
    empty = await gql.data(ENROLL, {"course": course.id})
    assert empty["enrollParticipants"] == {"enrolled": [], "skipped": []}
    empty = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": []})
    assert empty["enrollExternal"] == {"enrolled": [], "skipped": []}
    body = await gql(ENROLL, {"course": course.id, "usernames": 5})
    assert body["errors"] and body.get("data") is None


async def test_a_request_over_the_bulk_limit_is_refused_whole(gql):
    course = await make_course()
    body = await gql(ENROLL_EXTERNAL, {"course": course.id, "emails": [f"p{i}@example.com" for i in range(10_001)]})
    assert error_code(body) == "BAD_USER_INPUT"
    assert await Participant.all().count() == 0


async def test_ten_thousand_emails_in_one_request(gql):
    course = await make_course()
    emails = [f"person{i}@example.com" for i in range(10_000)]
    emails[5] = "bad address"
    emails[7] = emails[6].upper()
    data = await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": emails})
    result = data["enrollExternal"]
    assert len(result["enrolled"]) == 9_998
    assert sorted(s["reason"] for s in result["skipped"]) == ["DUPLICATE_ENTRY", "INVALID_EMAIL"]
    assert await Participant.filter(course_id=course.id).count() == 9_998


async def test_concurrent_enrollments_of_the_same_people_never_double(settings, gql):
    course = await make_course()
    users = await make_users(60)
    names = [u.username for u in users]
    results = await asyncio.gather(*(gql.data(ENROLL, {"course": course.id, "usernames": names}) for _ in range(4)))
    enrolled = sum(len(r["enrollParticipants"]["enrolled"]) for r in results)
    skipped = sum(len(r["enrollParticipants"]["skipped"]) for r in results)
    assert enrolled == 60
    assert skipped == 60 * 3
    assert await Participant.filter(course_id=course.id).count() == 60


async def test_group_enrollment_costs_statements_per_batch_not_per_member(settings, gql):
    course = await make_course()
    small_users = await make_users(10, prefix="small")
    await make_group("small", [u.username for u in small_users])
    big_users = await make_users(2_000, prefix="big")
    await make_group("big", [u.username for u in big_users])

    with count_queries() as small:
        await gql.data(ENROLL, {"course": course.id, "groups": ["small"]})
    other = await make_course("Other")
    with count_queries() as big:
        data = await gql.data(ENROLL, {"course": other.id, "groups": ["big"]})
    assert len(data["enrollParticipants"]["enrolled"]) == 2_000
    batches = 2_000 // 500
    # Each batch costs a fixed handful of statements (the insert returning ids, the audit events); members cost none.
    assert big.count <= small.count + 6 * (batches - 1), (small.count, big.count)
