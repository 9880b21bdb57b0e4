"""Group auto-enrollment: courses that follow group membership, removals respected, catch-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from server.models import AuditEvent, Membership, OutboxMessage, Participant, User
from server.services import autoenroll, directory
from tests.conftest import TEST_KEY, count_queries, error_code, with_settings
from tests.factories import make_course, make_group, make_user, make_users

ROOT = Path(__file__).resolve().parent.parent

SET_RULE = """
mutation($course: ID!, $groups: [String!]!, $enabled: Boolean!) {
  setAutoEnrollment(courseId: $course, groups: $groups, enabled: $enabled) {
    enrolledCount course { id autoEnrollGroups { name } }
  }
}"""
ADD = "mutation($g: String!, $u: [String!]!) { addGroupMembers(group: $g, usernames: $u) { name } }"
REMOVE_MEMBERS = "mutation($g: String!, $u: [String!]!) { removeGroupMembers(group: $g, usernames: $u) { name members { username } } }"
SET_ACTIVE = "mutation($u: String!, $a: Boolean!) { setUserActive(username: $u, active: $a) { username active } }"
REMOVE = "mutation($id: ID!) { removeParticipant(participantId: $id) { removed } }"
ENROLL = """
mutation($course: ID!, $usernames: [String!]!) {
  enrollParticipants(courseId: $course, usernames: $usernames, sendEmail: false) { enrolled { participant { name enrolledVia } } }
}"""
REPORT = """
query($course: ID!) {
  courseReport(courseId: $course, first: 500) {
    totalCount
    edges { node { id name enrolledVia inEnrolledGroup progress emailStatus } }
  }
}"""
REMOVED = "query($course: ID!) { removedParticipants(courseId: $course) { user { username } removedBy removedAt } }"


async def report(gql, course) -> dict[str, dict]:
    data = await gql.data(REPORT, {"course": course.id})
    return {e["node"]["name"]: e["node"] for e in data["courseReport"]["edges"]}


async def test_a_rule_enrolls_current_members_then_everyone_who_joins(gql):
    course = await make_course()
    await make_user("alice", email="alice@corp.example")
    await make_user("bob", email="bob@corp.example")
    await make_user("gone", active=False)
    await make_group("sales", ["alice", "gone"])

    data = await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    assert data["setAutoEnrollment"]["enrolledCount"] == 1
    assert data["setAutoEnrollment"]["course"]["autoEnrollGroups"] == [{"name": "sales"}]

    await gql.data(ADD, {"g": "sales", "u": ["bob"]})
    rows = await report(gql, course)
    assert set(rows) == {"alice", "bob"}
    assert rows["bob"]["enrolledVia"] == "group:sales" and rows["bob"]["inEnrolledGroup"] is True
    assert await AuditEvent.filter(action="course.auto_enroll_on").count() == 1

    again = await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    assert again["setAutoEnrollment"]["enrolledCount"] == 0
    assert await Participant.filter(course_id=course.id).count() == 2


async def test_turning_a_rule_off_stops_new_enrollments_and_keeps_participants(gql):
    course = await make_course()
    await make_users(3, prefix="u")
    await make_group("sales", ["u00000"])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})

    off = await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": False})
    assert off["setAutoEnrollment"]["course"]["autoEnrollGroups"] == []
    await gql.data(ADD, {"g": "sales", "u": ["u00001", "u00002"]})
    assert set(await report(gql, course)) == {"u00000"}
    assert await AuditEvent.filter(action="course.auto_enroll_off").count() == 1


async def test_bad_requests_are_clear_errors_and_need_an_admin(gql, reports_token):
    course = await make_course()
    await make_group("sales", [])
    assert error_code(await gql(SET_RULE, {"course": course.id, "groups": ["nosuch"], "enabled": True})) == "NOT_FOUND"
    assert error_code(await gql(SET_RULE, {"course": course.id, "groups": [], "enabled": True})) == "BAD_USER_INPUT"
    assert error_code(await gql(SET_RULE, {"course": "abc", "groups": ["sales"], "enabled": True})) == "BAD_USER_INPUT"
    assert error_code(await gql(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True}, token=reports_token)) == "FORBIDDEN"
    assert error_code(await gql(SET_ACTIVE, {"u": "nobody", "a": False})) == "NOT_FOUND"
    assert error_code(await gql(REMOVE_MEMBERS, {"g": "sales", "u": ["nobody"]})) == "BAD_USER_INPUT"
    assert error_code(await gql(REMOVE_MEMBERS, {"g": "nosuch", "u": []})) == "NOT_FOUND"
    assert error_code(await gql(REMOVED, {"course": "999"})) == "NOT_FOUND"


async def test_a_removed_participant_stays_removed_until_enrolled_by_hand(settings, gql, reports_token):
    course = await make_course()
    await make_users(2, prefix="u")
    await make_group("sales", ["u00000", "u00001"])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    removed_id = (await report(gql, course))["u00000"]["id"]
    await gql.data(REMOVE, {"id": removed_id})

    # Leaving and re-joining the group, turning the rule on again and the catch-up all leave them out.
    await gql.data(REMOVE_MEMBERS, {"g": "sales", "u": ["u00000"]})
    await gql.data(ADD, {"g": "sales", "u": ["u00000"]})
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    await autoenroll.catch_up(settings=settings)
    assert set(await report(gql, course)) == {"u00001"}

    removed = (await gql.data(REMOVED, {"course": course.id}, token=reports_token))["removedParticipants"]
    assert [(r["user"]["username"], r["removedBy"]) for r in removed] == [("u00000", "token:test admin")]
    assert removed[0]["removedAt"]

    await gql.data(ENROLL, {"course": course.id, "usernames": ["u00000"]})
    rows = await report(gql, course)
    assert set(rows) == {"u00000", "u00001"}
    assert rows["u00000"]["enrolledVia"] is None and rows["u00000"]["inEnrolledGroup"] is None
    assert (await gql.data(REMOVED, {"course": course.id}))["removedParticipants"] == []


async def test_leaving_the_group_keeps_the_participant_and_their_progress(gql):
    course = await make_course()
    await make_users(2, prefix="u")
    await make_group("sales", ["u00000", "u00001"])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    await Participant.filter(course_id=course.id, name="u00000").update(progress=0.5)

    data = await gql.data(REMOVE_MEMBERS, {"g": "sales", "u": ["u00000"]})
    assert data["removeGroupMembers"]["members"] == [{"username": "u00001"}]
    rows = await report(gql, course)
    assert rows["u00000"]["progress"] == 0.5 and rows["u00000"]["inEnrolledGroup"] is False
    assert rows["u00001"]["inEnrolledGroup"] is True
    assert await AuditEvent.filter(action="group.remove_members").count() == 1


async def test_a_person_in_several_groups_is_enrolled_once_through_the_first(settings, gql):
    course = await make_course()
    await make_group("north", [])
    await make_group("south", [])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["north", "south"], "enabled": True})
    await make_users(2, prefix="u")
    # u00000 joins south first; u00001 joins both in one import, north listed first.
    await gql.data(ADD, {"g": "south", "u": ["u00000"]})
    await gql.data(ADD, {"g": "north", "u": ["u00000"]})
    rows = [directory.DirectoryRow(1, "u00001", "User 1", "u00001@corp.example", ["north", "south"], True)]
    result = await directory.import_directory(rows=rows, actor="test", settings=settings)
    assert result.auto_enrolled == 1

    enrolled = await report(gql, course)
    assert {n: r["enrolledVia"] for n, r in enrolled.items()} == {"u00000": "group:south", "u00001": "group:north"}
    assert await Participant.filter(course_id=course.id).count() == 2


async def test_deactivated_users_are_never_auto_enrolled_and_keep_their_enrollments(gql):
    course = await make_course()
    await make_users(3, prefix="u")
    await make_group("sales", ["u00000"])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})

    assert (await gql.data(SET_ACTIVE, {"u": "u00000", "a": False}))["setUserActive"] == {"username": "u00000", "active": False}
    await gql.data(SET_ACTIVE, {"u": "u00001", "a": False})
    await gql.data(ADD, {"g": "sales", "u": ["u00001", "u00002"]})
    assert set(await report(gql, course)) == {"u00000", "u00002"}

    await gql.data(SET_ACTIVE, {"u": "u00001", "a": True})
    rows = await report(gql, course)
    assert set(rows) == {"u00000", "u00001", "u00002"} and rows["u00001"]["enrolledVia"] == "group:sales"
    assert await AuditEvent.filter(action="user.deactivate").count() == 2


def roster(settings, *args: str) -> subprocess.CompletedProcess:
    """The `roster` command in its own process, against the test database."""
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": settings.database_url,
        "ROSTER_SECRET_KEYS": TEST_KEY,
        "ROSTER_PUBLIC_URL": settings.public_url,
        "ROSTER_ENV": "test",
        "ROSTER_VAR_DIR": str(settings.var_dir),
    }
    return subprocess.run([sys.executable, "-m", "server", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


async def test_sync_import_makes_the_directory_match_the_file_and_enrollment_follows(settings, gql, tmp_path):
    course = await make_course()
    await make_user("admin1")
    await User.filter(username="admin1").update(is_admin=True)
    await make_users(3, prefix="u")
    await make_group("sales", ["u00000", "u00001"])
    await make_group("support", ["u00002"])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    file = tmp_path / "directory.csv"
    file.write_text(
        "username,display_name,email,groups,active\n"
        "u00000,User 0,u00000@corp.example,support,true\n"
        "u00002,User 2,u00002@corp.example,sales;support,true\n"
        "newbie,New Person,newbie@corp.example,sales,true\n"
    )

    done = await asyncio.to_thread(roster, settings, "import-directory", "--sync", str(file))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for change in (
        "created user newbie",
        "added newbie to sales",
        "added u00002 to sales",
        "added u00000 to support",
        "deactivated u00001 (not in the file)",
        "kept admin admin1 active (not in the file)",
        "removed u00000 from sales",
        "removed u00001 from sales",
    ):
        assert change in lines, (change, done.stdout)
    assert "2 memberships removed, 1 users deactivated" in lines[-1] and "auto-enrolled: 2 participants" in lines[-1]

    rows = await report(gql, course)
    assert set(rows) == {"u00000", "u00001", "u00002", "newbie"}
    assert rows["u00000"]["inEnrolledGroup"] is False and rows["newbie"]["inEnrolledGroup"] is True
    assert not (await User.get(username="u00001")).active and (await User.get(username="admin1")).active

    again = await asyncio.to_thread(roster, settings, "import-directory", "--sync", str(file))
    assert again.returncode == 0, again.stderr
    # Nothing left to change: the admin note again, then the summary.
    assert again.stdout.splitlines()[:-1] == ["kept admin admin1 active (not in the file)"]
    assert "0 created, 0 updated, 3 unchanged" in again.stdout and "sync:" not in again.stdout

    file.write_text("username,display_name,email,groups,active\nu00000,User 0,not-an-email,support,true\n")
    refused = await asyncio.to_thread(roster, settings, "import-directory", "--sync", str(file))
    assert refused.returncode == 1 and "changes nothing" in refused.stderr
    assert await User.filter(active=True).count() == 4


async def test_catch_up_makes_up_for_a_failure_and_is_idempotent(settings, gql):
    course = await make_course("Fire drill")
    users = await make_users(4, prefix="u")
    group = await make_group("sales", ["u00000", "u00001"])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    # A crash mid-import or a direct database change: memberships without enrollments, an enrollment lost.
    await Membership.bulk_create([Membership(group_id=group.id, user_id=u.id) for u in users[2:]])
    await Participant.filter(course_id=course.id, name="u00000").delete()

    done = await asyncio.to_thread(roster, settings, "sync-enrollments")
    assert done.returncode == 0, done.stderr
    assert "checked 1 auto-enrollment rules in 1 courses; 3 participants enrolled" in done.stdout
    assert f"Fire drill (#{course.id}): 3" in done.stdout
    rows = await report(gql, course)
    assert set(rows) == {"u00000", "u00001", "u00002", "u00003"}
    assert all(r["enrolledVia"] == "group:sales" for r in rows.values())

    again = await autoenroll.catch_up(settings=settings)
    assert (again.rules, again.enrolled) == (1, 0)
    assert await Participant.filter(course_id=course.id).count() == 4


async def test_the_server_catch_up_loop_runs_on_its_interval_and_stops_cleanly(settings, gql):
    assert autoenroll.start_periodic(with_settings(settings, auto_enroll_interval=0)) is None
    course = await make_course()
    users = await make_users(2, prefix="u")
    group = await make_group("sales", [])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    await Membership.bulk_create([Membership(group_id=group.id, user_id=u.id) for u in users])

    task = autoenroll.start_periodic(with_settings(settings, auto_enroll_interval=0.05))
    try:
        for _ in range(200):
            if await Participant.filter(course_id=course.id).count() == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await autoenroll.stop_periodic(task)
    assert task.done()
    assert set(await report(gql, course)) == {"u00000", "u00001"}
    assert await AuditEvent.filter(action="course.auto_enroll_catch_up", actor="auto-enroll").count() == 1


async def test_concurrent_membership_changes_never_double_enroll(settings, gql):
    course = await make_course()
    users = await make_users(40, prefix="u")
    names = [u.username for u in users]
    await make_group("north", [])
    await make_group("south", [])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["north", "south"], "enabled": True})

    changes = [gql.data(ADD, {"g": g, "u": names[i::2] + names[: 20 + i]}) for i, g in enumerate(["north", "south", "north", "south"])]
    await asyncio.gather(*changes)
    assert await Participant.filter(course_id=course.id).count() == 40
    assert len(set(await Participant.filter(course_id=course.id).values_list("user_id", flat=True))) == 40


async def test_a_bulk_import_into_a_followed_group_costs_statements_per_batch(settings):
    course = await make_course()
    await make_group("staff", [])
    await autoenroll.set_auto_enrollment(settings=settings, course_id=course.id, groups=["staff"], enabled=True, actor="test")

    def rows(prefix: str, count: int) -> list[directory.DirectoryRow]:
        return [
            directory.DirectoryRow(i + 1, f"{prefix}{i:05d}", f"User {i}", f"{prefix}{i:05d}@corp.example", ["staff"], True)
            for i in range(count)
        ]

    with count_queries() as small:
        await directory.import_directory(rows=rows("small", 10), actor="test", settings=settings)
    with count_queries() as big:
        report = await directory.import_directory(rows=rows("big", 2_000), actor="test", settings=settings)
    assert report.auto_enrolled == 2_000
    assert await Participant.filter(course_id=course.id).count() == 2_010
    extra_batches = 2_000 // 500 - 1
    # Users, memberships, enrollments, outbox and audit rows go in per batch; members cost no statements.
    assert big.count <= small.count + 16 * extra_batches, (small.count, big.count)


async def test_auto_enrolled_people_get_their_link_by_mail_once(gql):
    course = await make_course()
    await make_user("bob", email="bob@corp.example")
    await make_group("north", [])
    await make_group("south", [])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["north", "south"], "enabled": True})

    await asyncio.gather(gql.data(ADD, {"g": "north", "u": ["bob"]}), gql.data(ADD, {"g": "south", "u": ["bob"]}))
    rows = await report(gql, course)
    assert rows["bob"]["emailStatus"] == "QUEUED"
    assert await OutboxMessage.filter(to_address="bob@corp.example").count() == 1


async def test_catch_up_running_in_several_processes_at_once_enrolls_and_mails_each_person_once(settings, gql):
    course = await make_course()
    users = await make_users(30, prefix="u")
    group = await make_group("sales", [])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    await Membership.bulk_create([Membership(group_id=group.id, user_id=u.id) for u in users])

    reports = await asyncio.gather(*(autoenroll.catch_up(settings=settings) for _ in range(3)))
    assert sum(r.enrolled for r in reports) == 30
    assert await Participant.filter(course_id=course.id).count() == 30
    assert await OutboxMessage.filter(participant__course_id=course.id).count() == 30


async def test_auto_enrollment_fields_cost_the_same_queries_for_one_row_or_many(gql):
    query = "{ courses { id autoEnrollGroups { name } } }"
    course = await make_course()
    await make_users(30, prefix="u")
    await make_group("sales", [f"u{i:05d}" for i in range(30)])
    await make_group("ops", [f"u{i:05d}" for i in range(0, 30, 2)])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    await gql.data(REMOVE_MEMBERS, {"g": "sales", "u": ["u00000"]})

    with count_queries() as one:
        await gql.data(query)
    for title in ("Second", "Third", "Fourth"):
        other = await make_course(title)
        await gql.data(SET_RULE, {"course": other.id, "groups": ["sales", "ops"], "enabled": True})
    with count_queries() as many:
        data = await gql.data(query)
    assert [len(c["autoEnrollGroups"]) for c in data["courses"]] == [2, 2, 2, 1]
    assert many.count == one.count

    with count_queries() as report_queries:
        rows = await report(gql, course)
    assert len(rows) == 30 and rows["u00000"]["inEnrolledGroup"] is False
    # The report page, its count, and one query for every row's group membership.
    with count_queries() as small_page:
        await gql.data("query($c: ID!) { courseReport(courseId: $c, first: 1) { edges { node { inEnrolledGroup } } } }", {"c": course.id})
    assert report_queries.count == small_page.count


async def test_on_postgresql_a_course_being_caught_up_elsewhere_is_left_to_that_process(settings, gql):
    if settings.is_sqlite:
        pytest.skip("SQLite has one writer at a time; the turn-taking lock is PostgreSQL's")
    course = await make_course()
    users = await make_users(3, prefix="u")
    group = await make_group("sales", [])
    await gql.data(SET_RULE, {"course": course.id, "groups": ["sales"], "enabled": True})
    await Membership.bulk_create([Membership(group_id=group.id, user_id=u.id) for u in users])

    other_process = await asyncpg.connect(settings.database_url)
    try:
        await other_process.execute("SELECT pg_advisory_lock($1, $2)", autoenroll.CATCH_UP_LOCK, course.id)
        busy = await autoenroll.catch_up(settings=settings)
        assert (busy.busy, busy.enrolled) == (1, 0)
        assert "1 courses left to another process" in busy.summary()
    finally:
        await other_process.close()
    done = await autoenroll.catch_up(settings=settings)
    assert (done.busy, done.enrolled) == (0, 3)
