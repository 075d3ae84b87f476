"""The tables `make bench` prints, one per benchmark, from the same dicts that go into bench/results.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MODE_NAMES = {"webhook_http": "ours: webhook over HTTP", "in_process": "ours: in-process", "ptb_baseline": "PTB"}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned first column, right-aligned figures."""
    cells = [[str(cell) for cell in header]] + [[_cell(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def update_handling(result: dict[str, Any]) -> str:
    stream = result["stream"]
    title = (
        f"1. Update handling: {sum(stream.values())} updates one at a time ({stream['linked_command']} linked"
        f" commands, {stream['login_step']} login steps, {stream['duplicate']} duplicates)"
    )
    rows = []
    for name, mode in result["modes"].items():
        kinds = mode["p50_ms_by_kind"]
        rows.append(
            [
                MODE_NAMES[name],
                mode["updates_per_s"],
                mode["p50_ms"],
                mode["p99_ms"],
                kinds.get("linked_command"),
                kinds.get("login_step"),
                kinds.get("duplicate"),
                mode["firestore_ms_per_update"],
                mode["bot_api_calls"],
                mode.get("replies_in_webhook_answers", "-"),
                mode.get("throughput_ratio_vs_ptb"),
            ]
        )
    header = [
        "mode",
        "updates/s",
        "p50 ms",
        "p99 ms",
        "p50 cmd",
        "p50 login",
        "p50 dup",
        "Firestore ms/upd",
        "Bot API calls",
        "in answers",
        "ours/PTB upd/s",
    ]
    password = result.get("password_check_ms_at_production_iterations")
    note = f"\nthe password step checks PBKDF2 at 1,000 rounds here; at the CRM's 600,000 it adds {password} ms"
    return title + "\n" + table(header, rows) + (note if password is not None else "")


def firestore_cost(result: dict[str, Any]) -> str:
    rows = [
        [
            kind,
            cost["reads"],
            cost["writes"],
            cost["absent_document_lookups"],
            cost.get("sequential_round_trips", "-"),
            ", ".join(cost["bot_api_calls"]) or "-",
        ]
        for kind, cost in result["kinds"].items()
    ]
    rows += [
        [f"tool alone: {name}", cost["reads"], cost["writes"], cost["absent_document_lookups"], "-", "-"]
        for name, cost in result["tool_alone"].items()
    ]
    kinds = table(["kind", "reads", "writes", "absent lookups", "sequential RTs", "Bot API calls"], rows)
    targets = table(
        ["target", "measured", "verdict"],
        [[target, found["measured"], found["verdict"]] for target, found in result["targets"].items()],
    )
    return "2. Firestore cost per update (documents, counted on the emulator channel)\n" + kinds + "\n\n" + targets


def cold_start(result: dict[str, Any]) -> str:
    rows = []
    for function, kinds in result["functions"].items():
        for kind, figures in kinds.items():
            rows.append(
                [
                    f"{function} ({kind})",
                    figures["interpreter_ms"] + figures["framework_import_ms"],
                    figures["main_import_ms"],
                    figures["first_request_ms"],
                    figures["import_and_first_request_ms"],
                    figures["since_spawn_ms"],
                    figures["genai_imported"],
                ]
            )
    header = [
        "function (first request)",
        "python+framework ms",
        "import main.py ms",
        "1st request ms",
        "import+1st ms",
        "total ms",
        "google.genai",
    ]
    extra = result["functions"]["webhook"]["unauthenticated"].get("assistant_import_ms")
    checks = ", ".join(f"{function}: {verdict}" for function, verdict in result["genai_check"].items())
    lines = [
        f"3. Cold start: median of {result['runs']} fresh interpreters per row",
        table(header, rows),
        f"notify and admin must not import google.genai -> {checks}",
    ]
    if extra is not None:
        lines.append(f"webhook: the first assistant message later imports the agent and google.genai: +{extra} ms")
    return "\n".join(lines)


def fanout(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"run {index} (pacer {run['pacer_per_second']:g}/s)",
            run["events"],
            run["chats"],
            run["limit_seconds"],
            run["wall_seconds"],
            run["wall_vs_limit"],
            run["verdict"],
            run["too_many_requests_429"],
            ", ".join(f"{limit} {n}" for limit, n in run["too_many_requests_by_limit"].items()) or "-",
            len(run["redrives"]),
            run["lost"],
            run["duplicates"],
            run["order_breaks"],
        ]
        for index, run in enumerate(results, start=1)
    ]
    header = [
        "run",
        "events",
        "chats",
        "N/30 s",
        "wall s",
        "wall/limit",
        "<=1.15",
        "429s",
        "429s by limit",
        "re-drives",
        "lost",
        "duplicates",
        "order breaks",
    ]
    split = table(
        ["run", "batch", "seconds", "before 1st send", "sending", "after last send", "of which several-event tail"],
        [
            [
                index,
                number,
                batch["seconds"],
                batch.get("before_first_send_s"),
                batch.get("sending_s"),
                batch.get("after_last_send_s"),
                batch.get("tail_of_several_event_chats_s"),
            ]
            for index, run in enumerate(results, start=1)
            for number, batch in enumerate(run["batches"], start=1)
        ],
    )
    return (
        "4. Notification fan-out against a fake Bot API enforcing 30 msg/s overall and 1 msg/s per chat\n"
        + table(header, rows)
        + "\n\nwhere each request's time goes\n"
        + split
    )


def request_size(result: dict[str, Any]) -> str:
    first = table(
        ["role", "bytes", "tools", "system instruction", "contents"],
        [
            [role, parts["bytes"], parts["tools"], parts["system_instruction"], parts["contents"]]
            for role, parts in result["first_request_by_role"].items()
        ],
    )
    shown = [1, 2, 3, 5, 6, 10, 15, 20]
    growth = table(
        ["exchange (vendor, 1 tool call each)", "bytes of its first request", "contents"],
        [
            [step["exchange"], step["bytes"], step["contents_count"]]
            for step in result["history"]
            if step["exchange"] in shown
        ],
    )
    return (
        "5. Assistant request size (bytes of the generateContent JSON, a proxy for input tokens)\n"
        + first
        + "\n\n"
        + growth
        + f"\nhistory cap: plateau {result['plateau']} ({result['plateau_rule']});"
        f" {result['exchanges_kept_at_the_end']} exchanges kept at the end"
    )


def crm_backends(result: dict[str, Any]) -> str:
    calls = result["crm_calls_over_rest"]
    found_per_kind = [(kind, found, found["session_reads_max"]) for kind, found in calls.items()]
    found_per_kind += [(f"tool alone: {name}", found, None) for name, found in result["tool_alone_over_rest"].items()]
    rows = [
        [
            kind,
            found["calls"] if found.get("same_every_update", True) else f"{found['calls_min']}-{found['calls']}",
            "-" if session is None else session,
            ", ".join(f"{endpoint} {n}" for endpoint, n in found["by_endpoint"].items()) or "-",
            _read_twice(found),
            found.get("crm_ms_p50", found.get("crm_ms")),
        ]
        for kind, found, session in found_per_kind
    ]
    counted = table(["kind", "CRM calls", "session", "by endpoint", "read twice", "CRM ms"], rows)
    firestore, rest = result["latency"]["firestore"], result["latency"]["rest"]
    latency = table(
        ["kind", "firestore p50", "p95", "Firestore ms", "rest p50", "p95", "Firestore ms", "CRM ms", "rest/firestore"],
        [
            [
                kind,
                figures["p50_ms"],
                figures["p95_ms"],
                figures["firestore_ms_p50"],
                rest[kind]["p50_ms"],
                rest[kind]["p95_ms"],
                rest[kind]["firestore_ms_p50"],
                calls[kind]["crm_ms_p50"] if kind in calls else None,
                round(rest[kind]["p50_ms"] / figures["p50_ms"], 2) if figures["p50_ms"] else None,
            ]
            for kind, figures in firestore.items()
        ],
    )
    port = result["port_calls"]
    single = table(
        ["one port call, in-process", "firestore p50", "p95", "rest p50", "p95"],
        [
            [name, figures["p50_ms"], figures["p95_ms"], port["rest"][name]["p50_ms"], port["rest"][name]["p95_ms"]]
            for name, figures in port["firestore"].items()
        ],
    )
    targets = table(
        ["target", "measured", "verdict"],
        [[target, found["measured"], found["verdict"]] for target, found in result["targets"].items()],
    )
    return (
        f"6. The CRM over both adapters: {result['rounds']} rounds of {len(calls)} updates, webhook and notify over"
        " HTTP\nCRM calls per update over rest (the requests the reference CRM received; CRM ms: its time on them)\n"
        + counted
        + "\n\nlatency per update in ms, p50 and p95 (firestore: the demo data in the emulator; rest: the reference"
        " CRM on loopback);\nFirestore ms and CRM ms: p50 of the time waiting for each\n"
        + latency
        + "\n\n"
        + single
        + "\n"
        + _more_buttons(result["more_button"])
        + "\n\n"
        + targets
    )


def _read_twice(found: dict[str, Any]) -> str:
    """The records one update read more than once, and by which requests; requests made twice alike."""
    records = [
        f"{record.split('/')[0]}: {' + '.join(twice['endpoints'])}"
        for record, twice in found["records_read_twice"].items()
    ]
    shown = {request for twice in found["records_read_twice"].values() for request in twice["requests"]}
    records += [f"{request} x{n}" for request, n in found["repeated_requests"].items() if request not in shown]
    return "; ".join(records) or "-"


def _more_buttons(more: dict[str, Any]) -> str:
    """One line per backend: does the /deals page's More button fit Telegram's callback_data with its cursor?"""
    return "\n".join(
        f"/deals More button over {backend}: a cursor of {found['cursor_bytes']} bytes makes callback_data of"
        f" {found['callback_data_bytes']} bytes (Telegram takes {found['limit_bytes']}): "
        + (
            "the cursor goes in the button"
            if found["fits"]
            else "the cursor is kept in tg_page_cursors, the button carries its key"
        )
        for backend, found in more.items()
    )
