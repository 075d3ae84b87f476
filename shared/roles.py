"""CRM roles and who a command or tool is for."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A CRM user's role (crm_users.role)."""

    VENDOR = "vendor"
    EMPLOYEE = "employee"
    CUSTOMER = "customer"


STAFF = frozenset({Role.VENDOR, Role.EMPLOYEE})
EVERYONE = frozenset(Role)
