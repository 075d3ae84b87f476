"""Cloud Function: the operator's API (webhook set-up, bot info, menus, link codes, stats, audit)."""

import flask
import functions_framework

from shared.admin.endpoint import handle_admin_request
from shared.bootstrap import start_instance
from shared.request_log import log_each_request

start_instance()


@functions_framework.http
@log_each_request
def admin(request: flask.Request) -> flask.Response:
    return handle_admin_request(request)
