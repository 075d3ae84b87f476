"""The HTTP client of a CRM that keeps its own data (`CRM_BACKEND=rest`, docs/crm-connector.md).

An adapter: it signs each request, sends it, retries what the contract lets it retry within one deadline, and
turns the answer into plain JSON or one of the exceptions below. Models are the domain's (shared/crm).
"""

from shared.crm_http.client import (
    CrmApiError,
    CrmBusy,
    CrmChanged,
    CrmForbidden,
    CrmHttp,
    CrmInvalid,
    CrmMisconfigured,
    CrmNotFound,
    CrmUnavailable,
)
from shared.crm_http.tokens import BOT, ISSUER, TOKEN_SECONDS, Principal, sign_token

__all__ = [
    "BOT",
    "ISSUER",
    "TOKEN_SECONDS",
    "CrmApiError",
    "CrmBusy",
    "CrmChanged",
    "CrmForbidden",
    "CrmHttp",
    "CrmInvalid",
    "CrmMisconfigured",
    "CrmNotFound",
    "CrmUnavailable",
    "Principal",
    "sign_token",
]
