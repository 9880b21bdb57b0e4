"""The directory: users and groups through GraphQL, and the idempotent CSV/JSON import."""

from __future__ import annotations

import json

import pytest

from server.models import AuditEvent, Group, Membership, User
from server.services import directory
from server.services.errors import BadInput
from tests.conftest import GraphQLClient, error_code
from tests.factories import make_group, make_user

CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) { id username displayName email active } }"""
CREATE_GROUP = """
mutation($name: String!, $members: [String!]! = []) { createGroup(name: $name, members: $members) { id name members { username } } }"""
ADD_MEMBERS = """
mutation($group: String!, $usernames: [String!]!) { addGroupMembers(group: $group, usernames: $usernames) { name members { username } } }"""
USERS = "query($search: String, $first: Int) { users(search: $search, first: $first) { username displayName email } }"
GROUPS = "query($search: String, $first: Int) { groups(search: $search, first: $first) { name members { username } } }"


async def test_creating_a_user_normalizes_and_audits(gql):
    data = await gql.data(CREATE_USER, {"input": {"username": "  alice ", "displayName": " Alice Martin ", "email": " Alice@EXAMPLE.com "}})

    user = data["createUser"]
    assert user["username"] == "alice" and user["displayName"] == "Alice Martin"
    assert user["email"] == "Alice@example.com" and user["active"] is True
    stored = await User.get(username="alice")
    assert stored.email_key == "alice@example.com"
    assert await AuditEvent.filter(action="user.create", target="user:alice", actor="token:test admin").exists()


@pytest.mark.parametrize(
    "user_input",
    [
        {"username": ""},
        {"username": "   "},
        {"username": "has space"},
        {"username": "-starts-with-dash"},
        {"username": "x" * 151},
        {"username": "bad\r\nname"},
        {"username": "ok", "email": "not-an-email"},
        {"username": "ok", "email": "a@b.example\r\nBcc: evil@x.example"},
    ],
)
async def test_invalid_users_are_refused_with_a_clear_error(gql, user_input):
    body = await gql(CREATE_USER, {"input": user_input})
    assert error_code(body) == "BAD_USER_INPUT"
    assert body["errors"][0]["message"]
    assert await User.all().count() == 0


async def test_a_username_or_address_cannot_be_taken_twice(gql):
    await gql.data(CREATE_USER, {"input": {"username": "alice", "email": "alice@example.com"}})

    assert error_code(await gql(CREATE_USER, {"input": {"username": "alice"}})) == "BAD_USER_INPUT"
    assert error_code(await gql(CREATE_USER, {"input": {"username": "alice2", "email": "ALICE@example.com"}})) == "BAD_USER_INPUT"
    assert await User.all().count() == 1


async def test_groups_are_created_and_members_added_once(gql):
    for name in ("alice", "bob", "carol"):
        await make_user(name)

    created = (await gql.data(CREATE_GROUP, {"name": " sales ", "members": ["bob", "alice"]}))["createGroup"]
    assert created["name"] == "sales"
    assert [m["username"] for m in created["members"]] == ["alice", "bob"]

    added = (await gql.data(ADD_MEMBERS, {"group": "sales", "usernames": ["carol", "alice", " carol "]}))["addGroupMembers"]
    assert [m["username"] for m in added["members"]] == ["alice", "bob", "carol"]
    assert await Membership.all().count() == 3


async def test_group_errors_name_what_is_wrong_and_change_nothing(gql):
    await make_user("alice")
    await make_group("sales", ["alice"])

    assert error_code(await gql(CREATE_GROUP, {"name": "sales"})) == "BAD_USER_INPUT"
    assert error_code(await gql(CREATE_GROUP, {"name": ""})) == "BAD_USER_INPUT"
    assert error_code(await gql(CREATE_GROUP, {"name": "x" * 151})) == "BAD_USER_INPUT"
    assert error_code(await gql(ADD_MEMBERS, {"group": "nosuch", "usernames": ["alice"]})) == "NOT_FOUND"

    body = await gql(ADD_MEMBERS, {"group": "sales", "usernames": ["alice", "ghost", "phantom"]})
    assert error_code(body) == "BAD_USER_INPUT"
    assert "ghost" in body["errors"][0]["message"] and "phantom" in body["errors"][0]["message"]
    body = await gql(CREATE_GROUP, {"name": "support", "members": ["alice", "ghost"]})
    assert error_code(body) == "BAD_USER_INPUT"
    assert not await Group.filter(name="support").exists(), "a group with an unknown member is not half-created"
    assert await Membership.all().count() == 1


async def test_users_and_groups_are_searched_and_limited(gql):
    await make_user("alice", email="alice@corp.example", display_name="Alice Martin")
    await make_user("bob", email="robert@corp.example", display_name="Bob Nguyen")
    await make_user("carol", display_name="Carol Martin")
    await make_group("sales", ["alice"])
    await make_group("sales-emea", [])
    await make_group("engineering", [])

    async def usernames(search, first=50):
        return [u["username"] for u in (await gql.data(USERS, {"search": search, "first": first}))["users"]]

    assert await usernames(None) == ["alice", "bob", "carol"]
    assert await usernames("  ") == ["alice", "bob", "carol"]
    assert await usernames("MARTIN") == ["alice", "carol"]  # display name, case-insensitive
    assert await usernames("Robert@") == ["bob"]  # email
    assert await usernames("car") == ["carol"]  # username
    assert await usernames("zzz") == []
    assert await usernames(None, first=2) == ["alice", "bob"]
    assert await usernames("%") == []  # LIKE wildcards are text, not patterns
    assert await usernames("_") == []

    groups = (await gql.data(GROUPS, {"search": "SALES"}))["groups"]
    assert [g["name"] for g in groups] == ["sales", "sales-emea"]
    assert groups[0]["members"] == [{"username": "alice"}]
    assert error_code(await gql(USERS, {"first": 100_000})) == "BAD_USER_INPUT"


async def test_directory_operations_need_an_admin(client, reports_token):
    for query, variables in ((USERS, {}), (GROUPS, {}), (CREATE_USER, {"input": {"username": "x"}}), (CREATE_GROUP, {"name": "g"})):
        assert error_code(await GraphQLClient(client)(query, variables)) == "UNAUTHENTICATED"
        assert error_code(await GraphQLClient(client, reports_token)(query, variables)) == "FORBIDDEN"
    assert await User.all().count() == 0


# --- import ---------------------------------------------------------------------------------

CSV = """username,display_name,email,groups,active
alice,Alice Martin,alice@corp.example,sales;emea,true
bob,Bob Nguyen,BOB@Corp.Example,sales,
carol,Carol Diaz,,engineering,false
"""


async def run_import(text: str, fmt: str) -> tuple[directory.ImportReport, list[tuple[int, str]]]:
    rows, errors = directory.parse_directory(text, fmt=fmt)
    report = await directory.import_directory(rows=rows, actor="test")
    return report, errors + report.errors


async def memberships() -> set[tuple[str, str]]:
    return {(m.group.name, m.user.username) for m in await Membership.all().select_related("group", "user")}


async def test_a_csv_import_creates_users_groups_and_memberships_and_a_second_run_changes_nothing(settings):
    report, errors = await run_import(CSV, "csv")

    assert (report.created, report.updated, report.unchanged, report.groups_created, report.memberships_added) == (3, 0, 0, 3, 4)
    assert errors == []
    bob = await User.get(username="bob")
    assert (bob.display_name, bob.email, bob.email_key, bob.active) == ("Bob Nguyen", "BOB@corp.example", "bob@corp.example", True)
    assert (await User.get(username="carol")).active is False
    assert await memberships() == {("sales", "alice"), ("emea", "alice"), ("sales", "bob"), ("engineering", "carol")}

    again, errors = await run_import(CSV, "csv")
    assert (again.created, again.updated, again.unchanged, again.groups_created, again.memberships_added) == (0, 0, 3, 0, 0)
    assert errors == []
    assert await User.all().count() == 3

    changed = CSV.replace("Alice Martin", "Alice Martin-Lee")
    third, _ = await run_import(changed, "csv")
    assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
    assert (await User.get(username="alice")).display_name == "Alice Martin-Lee"


async def test_a_json_import_takes_users_and_groups_and_is_idempotent(settings):
    text = json.dumps(
        {
            "users": [
                {"username": "alice", "displayName": "Alice", "email": "alice@corp.example", "groups": ["sales"]},
                {"username": "bob", "display_name": "Bob", "active": "yes"},
            ],
            "groups": [{"name": "engineering", "members": ["bob", "alice"]}],
        }
    )
    report, errors = await run_import(text, "json")
    assert errors == []
    assert (report.created, report.groups_created, report.memberships_added) == (2, 2, 3)
    assert await memberships() == {("sales", "alice"), ("engineering", "bob"), ("engineering", "alice")}

    again, errors = await run_import(text, "json")
    assert errors == [] and (again.created, again.updated, again.unchanged, again.memberships_added) == (0, 0, 2, 0)

    as_list, errors = await run_import(json.dumps([{"username": "carol"}]), "json")
    assert errors == [] and as_list.created == 1


async def test_bad_rows_are_rejected_with_their_line_numbers_and_the_others_import(settings):
    text = (
        "username,display_name,email,groups,active\n"  # line 1
        "alice,Alice,alice@corp.example,sales,true\n"  # 2
        "bad name,Bad,,sales,true\n"  # 3
        "bob,Bob,not-an-email,,true\n"  # 4
        "carol,Carol,,sales,maybe\n"  # 5
        "alice,Alice again,,,\n"  # 6: twice in one file
        ",No name,,,\n"  # 7
        "dave,Dave,ALICE@corp.example,,\n"  # 8: alice's address
        "erin,Erin,erin@corp.example,sales,\n"  # 9
    )
    report, errors = await run_import(text, "csv")

    assert [line for line, _ in sorted(errors)] == [3, 4, 5, 6, 7, 8]
    messages = dict(errors)
    assert "username" in messages[3] and "active" in messages[5] and "twice" in messages[6]
    assert report.created == 2
    assert sorted(await User.all().values_list("username", flat=True)) == ["alice", "erin"]
    assert await memberships() == {("sales", "alice"), ("sales", "erin")}


async def test_bad_json_rows_keep_their_position(settings):
    text = json.dumps([{"username": "alice"}, "not an object", {"username": "bad name"}, {"username": "bob", "email": "x@"}])
    report, errors = await run_import(text, "json")
    assert sorted(line for line, _ in errors) == [2, 3, 4]
    assert report.created == 1


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("{not json", "json"), ('{"users": 5}', "json"), ("name,email\nalice,a@b.example\n", "csv"), ("", "csv")],
)
async def test_an_unreadable_file_is_refused_whole(settings, text, fmt):
    with pytest.raises(BadInput):
        directory.parse_directory(text, fmt=fmt)
    assert await User.all().count() == 0
