"""File tools: list a customer's files and their processing status."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.records import CrmFile, FileStatus
from shared.crm.tools.arguments import ListArgs
from shared.crm.tools.caller import Caller
from shared.crm.tools.orders import customer_scope
from shared.crm.tools.results import RecordPage, list_page
from shared.crm.tools.tool import Tool
from shared.roles import EVERYONE


class ListFilesArgs(ListArgs):
    status: FileStatus | None = Field(None, description="Only files with this status.")
    customer: str | None = Field(None, description="Staff: only files of this customer (number or id).")


def list_files(caller: Caller, args: ListFilesArgs) -> RecordPage[CrmFile]:
    equals, one_of = customer_scope(caller, args.customer, "files")
    if args.status:
        equals["status"] = args.status
    return list_page(CrmFile, caller, args, equals, one_of)


TOOLS: list[Tool[Any]] = [
    Tool(
        name="list_files",
        description=(
            "List uploaded files and their status (received, processing, ready), with ETA and the team's comment, "
            "newest first: a customer sees their own, an employee those of customers assigned to them, the "
            "vendor all. Pass next_cursor for more."
        ),
        args_model=ListFilesArgs,
        roles=EVERYONE,
        run=list_files,
    ),
]
