"""Every CRM tool, in the order the model is shown them, and the registry built from them."""

from __future__ import annotations

from shared.crm.tools import customers, deals, files, issues, leads, orders, statistics, vendor
from shared.crm.tools.tool import ToolRegistry

CATALOG = [
    *customers.TOOLS,
    *leads.TOOLS,
    *deals.TOOLS,
    *issues.TOOLS,
    *orders.TOOLS,
    *files.TOOLS,
    *statistics.TOOLS,
    *vendor.TOOLS,
]

tools = ToolRegistry(CATALOG)
