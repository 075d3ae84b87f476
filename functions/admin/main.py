"""Cloud Function: the operator's API (webhook set-up, bot info, menus, link codes, stats, audit)."""

import flask
import functions_framework

from shared.admin.endpoint import handle_admin_request
from shared.config import get_settings
from shared.request_log import configure_logging, log_each_request

configure_logging()
get_settings()  # refuse to start with invalid settings (e.g. a malformed TG_WEBHOOK_SECRET)


@functions_framework.http
@log_each_request
def admin(request: flask.Request) -> flask.Response:
    return handle_admin_request(request)
