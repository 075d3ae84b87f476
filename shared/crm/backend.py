"""The CRM this instance talks to: `CRM_BACKEND` picks the port's adapter (shared/crm/port.py)."""

from __future__ import annotations

from shared.config import get_settings
from shared.crm.firestore_crm import FirestoreCrm
from shared.crm.port import Crm
from shared.crm.rest_crm import RestCrm
from shared.crm_http import CrmHttp
from shared.instance import per_instance


@per_instance
def get_crm() -> Crm:
    """The instance's CRM: our Firestore (`firestore`, the default) or the CRM's own API (`rest`)."""
    settings = get_settings()
    if settings.crm_backend == "firestore":
        return FirestoreCrm()
    return RestCrm(
        CrmHttp(
            settings.require("CRM_API_URL"), settings.require("CRM_SIGNING_SECRET"), settings.crm_api_timeout_seconds
        )
    )
