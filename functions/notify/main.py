"""Cloud Function: the CRM's status notifications, delivered to linked Telegram users."""

import flask
import functions_framework

from shared.bootstrap import start_instance
from shared.notify.endpoint import handle_notify_request
from shared.request_log import log_each_request

start_instance()


@functions_framework.http
@log_each_request
def notify(request: flask.Request) -> flask.Response:
    return handle_notify_request(request)
