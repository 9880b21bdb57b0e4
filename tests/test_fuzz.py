"""Fuzzing: Schemathesis sends generated queries and mutations for every operation of the exported schema to a
live server, as an admin; no answer may be a 5xx, and every GraphQL error must carry a code and be expected."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis.graphql
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.transport import Response

from schema import SDL_PATH
from server.services import auth
from tests.factories import enroll_emails, enroll_usernames, make_course, make_group, make_user
from tests.live import live_server

EXAMPLES = int(os.environ.get("ROSTER_FUZZ_EXAMPLES", "20"))
# Run last: they can sign the fuzzer out or revoke its own token.
LAST = ("signOut", "setUserPassword", "revokeApiToken")
ACCEPTED_STATUSES = {200, 400, 413, 429}


@dataclass
class Tally:
    requests: int = 0
    by_operation: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def check(self, label: str, query: str, response: Response) -> None:
        self.requests += 1
        self.by_operation[label] += 1
        problem = None
        if response.status_code not in ACCEPTED_STATUSES:
            problem = f"status {response.status_code}"
        elif "application/json" in str(response.headers.get("content-type")):
            body = response.json()
            for error in body.get("errors") or []:
                code = (error.get("extensions") or {}).get("code")
                if not code:
                    problem = f"error without extensions.code: {error.get('message', '')[:200]}"
                elif code == "INTERNAL_SERVER_ERROR":
                    problem = f"unexpected error: {error.get('message', '')[:200]}"
        elif "Traceback" in response.text:
            problem = "a stack trace in the answer"
        if problem:
            self.failures.append(f"{label}: {problem}\n{query[:600]}")


def fuzz(base_url: str, token: str | None, examples: int, tally: Tally) -> Tally:
    schema = schemathesis.graphql.from_path(SDL_PATH)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: (op.label.split(".")[-1] in LAST, op.label))
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for operation in operations:

        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests on every run: a failure here is reproducible
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def send(case) -> None:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
            tally.check(operation.label, case.body if isinstance(case.body, str) else str(case.body), response)

        send()
    return tally


async def seed(settings) -> str:
    """Something for every operation to find: a course with lessons, users, a group, participants."""
    course = await make_course("Fuzzed")
    await make_user("ann", email="ann@corp.example")
    await make_group("team", ["ann"])
    await enroll_usernames(settings, course, "ann")
    await enroll_emails(settings, course, "pat@example.com")
    for number in range(20):  # the fuzzer's own token gets a high id, out of reach of revokeApiToken(id: "1")
        await auth.create_token(name=f"spare {number}", scope="reports:read", actor="test")
    return (await auth.create_token(name="fuzzer", scope="admin", actor="test"))[1]


async def test_fuzzing_every_operation_finds_no_server_error(settings, tmp_path):
    token = await seed(settings)
    # Limits off, so link and sign-in operations keep being exercised after the first failures.
    relaxed = {
        "ROSTER_RATE_LINK_FAILURES": "0",
        "ROSTER_RATE_SIGNIN_FAILURES_PER_ADDRESS": "0",
        "ROSTER_RATE_SIGNIN_FAILURES_PER_ACCOUNT": "0",
    }
    with live_server(settings, tmp_path / "server.log", ROSTER_LINK_FAILURE_FLOOR_MS="0", **relaxed) as server:
        tally = Tally()
        # As an admin, to reach every resolver; then with no credential, a few examples each, for the refusals.
        await asyncio.to_thread(fuzz, f"{server.url}/graphql", token, EXAMPLES, tally)
        await asyncio.to_thread(fuzz, f"{server.url}/graphql", None, max(2, EXAMPLES // 5), tally)
    operations = {op for op in tally.by_operation}
    print(f"\nfuzz: {tally.requests} requests over {len(operations)} operations, {len(tally.failures)} failed")
    assert len(operations) == len(list(schemathesis.graphql.from_path(SDL_PATH).get_all_operations()))
    by_label = Counter(f.split(":", 1)[0] for f in tally.failures)
    assert tally.failures == [], f"{len(tally.failures)} of {tally.requests} requests failed: {dict(by_label)}\n" + "\n\n".join(
        tally.failures[:10]
    )
    assert "Traceback" not in server.log()


LONG = "x" * 400
# Inputs the fuzzer found (or could find) answered with an unexpected error: values longer than their
# column used as filters (the ORM refuses them) and NUL characters (PostgreSQL text cannot hold them).
FOUND = [
    f'mutation {{ createGroup(name: "g", members: ["{LONG}"]) {{ name }} }}',
    f'mutation {{ signIn(username: "{LONG}", password: "{LONG}") {{ username }} }}',
    f'mutation {{ setUserActive(username: "{LONG}", active: true) {{ active }} }}',
    f'mutation {{ setUserPassword(username: "{LONG}", password: "{LONG}") {{ username }} }}',
    f'mutation {{ addGroupMembers(group: "{LONG}", usernames: ["{LONG}"]) {{ name }} }}',
    f'mutation {{ removeGroupMembers(group: "{LONG}", usernames: ["{LONG}"]) {{ name }} }}',
    f'{{ auditLog(filter: {{action: "{LONG}", actor: "{LONG}"}}) {{ edges {{ cursor }} }} }}',
    f'mutation {{ enrollParticipants(courseId: 1, usernames: ["{LONG}"], groups: ["{LONG}"]) {{ skipped {{ reason }} }} }}',
    '{ users(search: "a\\u0000b") { id } }',
    'mutation { createGroup(name: "g", members: ["a\\u0000"]) { name } }',
]


@pytest.mark.parametrize("query", FOUND, ids=[q.split("(", 1)[0].split()[-1] for q in FOUND])
async def test_inputs_the_fuzzer_found_are_refused_cleanly(gql, query):
    await make_course()
    response = await gql.raw(query)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "NUL" in response.text
        return
    for error in response.json().get("errors") or []:
        assert error["extensions"]["code"] in {"BAD_USER_INPUT", "NOT_FOUND", "UNAUTHENTICATED"}, error


async def test_nul_in_variables_is_refused_before_any_query(gql):
    response = await gql.raw("query($s: String) { users(search: $s) { id } }", {"s": "a\x00b"})
    assert response.status_code == 400 and "NUL" in response.text
