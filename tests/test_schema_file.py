"""The exported SDL is the public contract: the file and the code must agree."""

from pathlib import Path

import schema


def test_schema_file_matches_the_code():
    on_disk = Path(schema.SDL_PATH).read_text()
    assert on_disk == schema.sdl(), "schema/schema.graphql is stale: run `make schema` and commit it"


def test_contract_names_are_present():
    sdl = schema.sdl()
    for name in (
        "courseReport(",
        "participantView(link: String!)",
        "enrollParticipants(",
        "enrollExternal(",
        "removeParticipant(",
        "regenerateLink(",
        "createUser(",
        "createGroup(",
        "addGroupMembers(",
        "createCourse(",
        "enum SkipReason",
        "INTERNAL_USER_EMAIL",
    ):
        assert name in sdl
