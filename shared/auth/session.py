"""The CRM identity behind a Telegram user, checked against the CRM on every update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from shared.crm.backend import get_crm
from shared.crm.tools.caller import Caller
from shared.crm.users import CrmUser
from shared.roles import Role
from shared.store import links
from shared.store.links import Link


@dataclass(frozen=True)
class Session:
    """A linked Telegram user acting as a current, active CRM user."""

    link: Link
    user: CrmUser

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def crm_user_id(self) -> str:
        return self.user.id

    @property
    def org_id(self) -> str:
        return self.user.org_id

    @property
    def customer_id(self) -> str | None:
        return self.user.customer_id

    @property
    def telegram_user_id(self) -> int:
        return self.link.telegram_user_id

    def caller(self) -> Caller:
        """The identity every tool call of this session runs as."""
        return Caller(
            crm_user_id=self.user.id,
            role=self.user.role,
            org_id=self.user.org_id,
            customer_id=self.user.customer_id,
            telegram_user_id=self.link.telegram_user_id,
            name=self.user.name,
        )


class SessionChange(StrEnum):
    """What changed in the CRM since the user's last message."""

    NONE = "none"
    DEACTIVATED = "deactivated"
    ROLE_CHANGED = "role_changed"


@dataclass(frozen=True)
class SessionState:
    session: Session | None
    change: SessionChange = SessionChange.NONE
    ended_link: Link | None = None


def load_session(telegram_user_id: int, read_link: Callable[[], Link | None] | None = None) -> SessionState:
    """The user's session, refreshed from crm_users: an inactive or deleted CRM user ends it.

    `read_link`: the user's link as already being read (the webhook reads it while it claims the update).
    """
    link = read_link() if read_link is not None else links.get_link(telegram_user_id)
    if link is None:
        return SessionState(None)
    user = get_crm().get_user(link.crm_user_id)
    if user is None or not user.is_active:
        return SessionState(None, SessionChange.DEACTIVATED, ended_link=link)
    identity = (user.role, user.org_id, user.customer_id, user.name, user.email)
    if identity != (link.role, link.org_id, link.customer_id, link.name, link.email):
        change = SessionChange.ROLE_CHANGED if user.role != link.role else SessionChange.NONE
        link = link.model_copy(
            update={
                "role": user.role,
                "org_id": user.org_id,
                "customer_id": user.customer_id,
                "name": user.name,
                "email": user.email,
            }
        )
        links.update_link(
            telegram_user_id,
            {
                "role": user.role.value,
                "org_id": user.org_id,
                "customer_id": user.customer_id,
                "name": user.name,
                "email": user.email,
            },
        )
        return SessionState(Session(link, user), change)
    return SessionState(Session(link, user))
