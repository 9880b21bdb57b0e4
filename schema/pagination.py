"""Page sizes: a client may ask for fewer rows than the limit, never more."""

from schema.context import Info
from server.services.errors import BadInput

DEFAULT_PAGE_SIZE = 50


def page_size(info: Info, first: int | None) -> int:
    limit = info.context.settings.max_page_size
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 0 <= first <= limit:
        raise BadInput(f"first must be between 0 and {limit}, not {first}")
    return first
