"""Every CRM tool, registered on import: `import shared.crm.tools.catalog` before using the registry."""

from __future__ import annotations

from shared.crm.tools import admin, customers, deals, files, issues, leads, orders, statistics
from shared.crm.tools.registry import tools

CATALOG = [
    *customers.TOOLS,
    *leads.TOOLS,
    *deals.TOOLS,
    *issues.TOOLS,
    *orders.TOOLS,
    *files.TOOLS,
    *statistics.TOOLS,
    *admin.TOOLS,
]

for _tool in CATALOG:
    if tools.get(_tool.name) is not _tool:
        tools.add(_tool)
