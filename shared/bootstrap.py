"""How every function instance starts: logging set up, and the settings checked before the first request."""

from __future__ import annotations

from shared.config import get_settings
from shared.request_log import configure_logging


def start_instance() -> None:
    """Call once at import of a function's main.py: an instance with invalid settings (e.g. a malformed
    TG_WEBHOOK_SECRET) refuses to start rather than fail its requests one by one."""
    configure_logging()
    get_settings()
