"""Expected failures of a single operation, each with the code clients see."""


class RosterError(Exception):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(RosterError):
    code = "BAD_USER_INPUT"


class NotFound(RosterError):
    code = "NOT_FOUND"


class Forbidden(RosterError):
    code = "FORBIDDEN"


class Unauthenticated(RosterError):
    code = "UNAUTHENTICATED"


def parse_id(raw: str | int, *, what: str) -> int:
    """A GraphQL ID as the integer key it stands for, or a clear error."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadInput(f"{what} id must be a number, not {str(raw)[:40]!r}") from None
    if not 0 < value < 2**31:
        raise NotFound(f"No {what} with id {value}")
    return value
