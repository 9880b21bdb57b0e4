"""Who is calling: API tokens, password sign-in and sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from server.models import ApiToken, Session, User
from server.services import audit, ratelimit
from server.services.errors import BadInput, NotFound, Unauthenticated
from server.services.security import new_token, token_hash

_hasher = PasswordHasher()
# Checked against when the username is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("roster: no such user")
MIN_PASSWORD_LENGTH = 10


class Scope(StrEnum):
    ADMIN = "admin"
    REPORTS_READ = "reports:read"


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    name: str  # as written in audit events
    scopes: frozenset[str] = field(default_factory=frozenset)
    user: User | None = None
    session_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def can_read_reports(self) -> bool:
        return bool({Scope.ADMIN, Scope.REPORTS_READ} & self.scopes)


ANONYMOUS = Principal(name="anonymous")
# A credential was sent but is wrong, revoked or expired: told apart so the error can say so.
INVALID = Principal(name="invalid-credential")


def now() -> datetime:
    return datetime.now(UTC)


async def create_token(*, name: str, scope: str, actor: str = "cli") -> tuple[ApiToken, str]:
    """A new API token; the secret is returned once and only its hash is kept."""
    if scope not in {s.value for s in Scope}:
        raise BadInput(f"scope must be one of {', '.join(s.value for s in Scope)}")
    name = name.strip()
    if not name or len(name) > 200:
        raise BadInput("A token needs a name of at most 200 characters")
    secret = "rst_" + new_token()
    token = await ApiToken.create(name=name, scope=scope, token_hash=token_hash(secret))
    await audit.record(actor=actor, action="token.create", target=f"token:{token.id}", detail={"name": name, "scope": scope})
    return token, secret


async def revoke_token(*, token_id: int, actor: str = "cli") -> ApiToken:
    token = await ApiToken.get_or_none(id=token_id)
    if token is None:
        raise NotFound(f"No API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now()
        await token.save(update_fields=["revoked_at"])
        await audit.record(actor=actor, action="token.revoke", target=f"token:{token.id}", detail={"name": token.name})
    return token


async def list_tokens() -> list[ApiToken]:
    return await ApiToken.all().order_by("id")


async def principal_for_token(secret: str) -> Principal | None:
    token = await ApiToken.get_or_none(token_hash=token_hash(secret), revoked_at=None)
    if token is None:
        return None
    return Principal(name=f"token:{token.name}", scopes=frozenset({token.scope}))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


async def set_password(*, username: str, password: str, actor: str = "cli") -> User:
    user = await User.get_or_none(username=username.strip())
    if user is None:
        raise NotFound(f"No user named {username!r}")
    user.password_hash = hash_password(password)
    await user.save(update_fields=["password_hash"])
    # A new password ends every existing session of that user.
    await Session.filter(user_id=user.id, revoked_at=None).update(revoked_at=now())
    await audit.record(actor=actor, action="user.set_password", target=f"user:{user.username}")
    return user


async def sign_in(*, username: str, password: str, session_days: int) -> tuple[User, str]:
    """Check a password and open a session; the session secret goes into the cookie only."""
    await ratelimit.check_signin(username=username)
    user = await User.get_or_none(username=username.strip(), active=True)
    stored = user.password_hash if user and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
        ok = user is not None and user.password_hash is not None
    except (VerifyMismatchError, InvalidHashError):
        ok = False
    if not ok or user is None:
        await audit.record(actor=f"user:{username.strip()[:150]}", action="signin.failure", target=f"user:{username.strip()[:150]}")
        raise Unauthenticated("Wrong username or password")
    await ratelimit.record_signin_success(username=username)
    secret = new_token()
    await Session.create(token_hash=token_hash(secret), user=user, expires_at=now() + timedelta(days=session_days))
    await audit.record(actor=f"user:{user.username}", action="signin.success", target=f"user:{user.username}")
    return user, secret


async def principal_for_session(secret: str) -> Principal | None:
    session = await Session.get_or_none(token_hash=token_hash(secret), revoked_at=None).select_related("user")
    if session is None or session.expires_at <= now() or not session.user.active:
        return None
    user = session.user
    scopes = frozenset({Scope.ADMIN}) if user.is_admin else frozenset()
    return Principal(name=f"user:{user.username}", scopes=scopes, user=user, session_id=session.id)


async def sign_out(*, session_id: int) -> None:
    await Session.filter(id=session_id, revoked_at=None).update(revoked_at=now())
