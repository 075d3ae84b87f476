"""infra/firestore.indexes.json holds the composite index of every Firestore query the code makes, and no other.

The emulator does not enforce indexes, so this test does what production would. A workload runs every tool as
every role with every combination of the filters its arguments offer (and the next page), the statistics for
every period, the chat commands and logins, notify deliveries and the admin routes, while tests/firestore_rpcs.py
records the shape of each query. `needed_index` applies Firestore's index rules to each shape: a missing index
fails with the JSON to paste into the file, and an index that no query needs fails too, so the file stays minimal.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import json
import threading
import typing
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import grpc
import pytest

from shared import clock
from shared.bot.commands import GUEST
from shared.bot.router import COMMANDS as commands
from shared.crm import demo
from shared.crm.backend import get_crm
from shared.crm.periods import PERIOD_NAMES
from shared.crm.records import RECORD_TYPES, Customer
from shared.crm.tools.changes import Change
from shared.crm.tools.registry import Caller, Tool, ToolResult, call_tool, plan_tool_call, tools
from shared.notify.signature import sign
from shared.roles import Role
from shared.store import db
from shared.store.crm.records import sequence_ref
from tests import firestore_rpcs
from tests.chat import ChatUser, callback_update, post_update
from tests.crm_data import FAST_ITERATIONS
from tests.fakes.gemini_api import FakeGemini, function_calls, text
from tests.fakes.telegram_api import FakeTelegram
from tests.firestore_rpcs import QueryShape
from tests.harness import ADMIN_TOKEN, NOTIFY_SECRET, FunctionServer

ROOT = Path(__file__).resolve().parent.parent
INDEXES_FILE = ROOT / "infra" / "firestore.indexes.json"

ASC, DESC = "ASCENDING", "DESCENDING"
DOCUMENT_ID = "__name__"
# (collection group, query scope, ((field, ASCENDING|DESCENDING|CONTAINS), ...)): scripts/infra_plan.py's key
IndexKey = tuple[str, str, tuple[tuple[str, str], ...]]


def _infra_plan() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_plan", ROOT / "scripts" / "infra_plan.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared_indexes() -> list[IndexKey]:
    """The composite indexes of infra/firestore.indexes.json, read the way deploy.sh reads them."""
    keys: list[IndexKey] = _infra_plan().declared_indexes(json.loads(INDEXES_FILE.read_text(encoding="utf-8")))
    return keys


# ----- Firestore's index rules -----
@dataclass(frozen=True)
class NeededIndex:
    """A composite index a query needs: its equality fields in any order, then its ordered fields."""

    collection: str
    equality: frozenset[str]
    ordered: tuple[tuple[str, str], ...]
    # The equality fields in the order the query gave them, for a readable JSON snippet.
    equality_order: tuple[str, ...] = field(default=(), compare=False)

    def served_by(self, index: IndexKey) -> bool:
        group, scope, fields = index
        split = len(self.equality)
        return (
            (group, scope) == (self.collection, "COLLECTION")
            and len(fields) == split + len(self.ordered)
            and {name for name, mode in fields[:split] if mode != "CONTAINS"} == self.equality
            and fields[split:] == self.ordered
        )

    def as_json(self) -> dict[str, Any]:
        """The entry of firestore.indexes.json that creates this index."""
        names = self.equality_order or tuple(sorted(self.equality))
        fields = [{"fieldPath": name, "order": ASC} for name in names]
        fields += [{"fieldPath": name, "order": direction} for name, direction in self.ordered]
        return {"collectionGroup": self.collection, "queryScope": "COLLECTION", "fields": fields}


def needed_index(shape: QueryShape, aggregated: Iterable[str] = ()) -> NeededIndex | None:
    """The composite index a query needs, or None when Firestore's automatic single-field indexes serve it.

    The query's order is its order_by, then each inequality field it does not order by (by name, ascending),
    then each field a sum()/avg() reads (Firestore aggregates from the index, ascending). A trailing __name__ in
    the direction of the field before it is implicit in every index. Equality filters (`in` too) alone are served
    by merging single-field indexes, and so is one ordered field with no equality filter. Anything else needs a
    composite index: the equality fields in any order, then the order, directions included.
    """
    ordered = list(shape.order_by)
    ordered += [(name, ASC) for name in sorted(set(shape.inequality) - {name for name, _ in ordered})]
    ordered += [(name, ASC) for name in dict.fromkeys(aggregated) if name not in {n for n, _ in ordered}]
    if ordered and ordered[-1][0] == DOCUMENT_ID and (len(ordered) == 1 or ordered[-2][1] == ordered[-1][1]):
        ordered.pop()
    equality = tuple(name for name in dict.fromkeys(shape.equality) if name not in {n for n, _ in ordered})
    if not ordered or (not equality and len(ordered) == 1):
        return None
    return NeededIndex(shape.collection, frozenset(equality), tuple(ordered), equality)


def as_snippet(index: dict[str, Any]) -> str:
    """An index as JSON to paste into the "indexes" list of the file, one field a line."""
    fields = ",\n".join(f"    {json.dumps(field)}" for field in index["fields"])
    return (
        f'{{\n  "collectionGroup": {json.dumps(index["collectionGroup"])},\n'
        f'  "queryScope": {json.dumps(index["queryScope"])},\n  "fields": [\n{fields}\n  ]\n}}'
    )


def shape(
    collection: str,
    equality: tuple[str, ...] = (),
    inequality: tuple[str, ...] = (),
    order_by: tuple[tuple[str, str], ...] = (),
    aggregation: bool = False,
) -> QueryShape:
    return QueryShape(collection, equality, inequality, order_by, aggregation)


@pytest.mark.parametrize(
    ("query", "aggregated", "expected"),
    [
        pytest.param(shape("crm_users", ("email",)), (), None, id="one equality"),
        pytest.param(shape("deals", ("org_id", "number")), (), None, id="equalities merge single-field indexes"),
        pytest.param(shape("tg_notifications", ("status",), aggregation=True), (), None, id="count of equalities"),
        pytest.param(
            shape("deals", ("org_id",), order_by=(("__name__", DESC),)), (), None, id="order on __name__ only"
        ),
        pytest.param(shape("tg_audit", (), ("at",), (("at", DESC),)), (), None, id="range and order on one field"),
        pytest.param(shape("tg_notifications", (), ("received_at", "received_at")), (), None, id="range alone"),
        pytest.param(
            shape("tg_notifications", (), ("received_at",), aggregation=True),
            ("duplicates",),
            NeededIndex("tg_notifications", frozenset(), (("received_at", ASC), ("duplicates", ASC))),
            id="sum over a range needs the summed field",
        ),
        pytest.param(
            shape("deals", ("org_id", "stage"), ("created_at",), (("created_at", DESC), ("__name__", DESC))),
            (),
            NeededIndex("deals", frozenset({"org_id", "stage"}), (("created_at", DESC),)),
            id="equalities then order, implicit __name__",
        ),
        pytest.param(
            shape("tg_audit", ("event",), ("at", "at"), aggregation=True),
            (),
            NeededIndex("tg_audit", frozenset({"event"}), (("at", ASC),)),
            id="count with a range orders the range field ascending",
        ),
        pytest.param(
            shape("deals", ("org_id",), order_by=(("created_at", DESC), ("__name__", ASC))),
            (),
            NeededIndex("deals", frozenset({"org_id"}), (("created_at", DESC), ("__name__", ASC))),
            id="__name__ against the last direction is explicit",
        ),
        pytest.param(
            shape("deals", (), ("closed_at",), (("created_at", DESC),)),
            (),
            NeededIndex("deals", frozenset(), (("created_at", DESC), ("closed_at", ASC))),
            id="range on a field it does not order by comes after the order",
        ),
    ],
)
def test_needed_index_follows_firestores_rules(
    query: QueryShape, aggregated: tuple[str, ...], expected: NeededIndex | None
) -> None:
    assert needed_index(query, aggregated) == expected


def test_an_index_serves_its_equality_fields_in_any_order_and_its_order_exactly() -> None:
    need = NeededIndex("deals", frozenset({"org_id", "stage"}), (("created_at", DESC),))
    fields = (("org_id", ASC), ("stage", ASC), ("created_at", DESC))

    assert need.served_by(("deals", "COLLECTION", fields))
    assert need.served_by(("deals", "COLLECTION", (("stage", ASC), ("org_id", DESC), ("created_at", DESC))))
    assert not need.served_by(("deals", "COLLECTION", (("org_id", ASC), ("stage", ASC), ("created_at", ASC))))
    assert not need.served_by(("deals", "COLLECTION", (("org_id", ASC), ("created_at", DESC))))
    assert not need.served_by(("leads", "COLLECTION", fields))
    assert not need.served_by(("deals", "COLLECTION_GROUP", fields))


def test_the_missing_index_prints_as_json_to_paste() -> None:
    need = needed_index(shape("deals", ("org_id", "stage"), order_by=(("created_at", DESC), ("__name__", DESC))))
    assert need is not None

    printed = as_snippet(need.as_json())

    assert json.loads(printed) == {
        "collectionGroup": "deals",
        "queryScope": "COLLECTION",
        "fields": [
            {"fieldPath": "org_id", "order": ASC},
            {"fieldPath": "stage", "order": ASC},
            {"fieldPath": "created_at", "order": DESC},
        ],
    }
    assert '    {"fieldPath": "stage", "order": "ASCENDING"},\n' in printed


def test_the_index_file_declares_each_index_once() -> None:
    keys = declared_indexes()
    assert len(keys) == len(set(keys)), "an index is declared twice"


# ----- recording every query of a realistic workload -----
class AggregatedFields(grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Keeps, with each aggregation query's shape, the fields its sum()/avg() read.

    QueryShape leaves them out, but Firestore computes a sum from the index, so the summed field belongs in it.
    """

    def __init__(self) -> None:
        self.queries: list[tuple[QueryShape, tuple[str, ...]]] = []
        self._lock = threading.Lock()

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        if details.method.rsplit("/", 1)[-1] == "RunAggregationQuery":
            aggregations = firestore_rpcs._raw(request).structured_aggregation_query.aggregations
            kinds = [(aggregation, aggregation.WhichOneof("operator")) for aggregation in aggregations]
            read = tuple(getattr(aggregation, kind).field.field_path for aggregation, kind in kinds if kind != "count")
            with self._lock:
                self.queries.append((firestore_rpcs._shape(request, aggregation=True), read))
        return continuation(details, request)


@dataclass
class Recorded:
    """Every query the code made, with the fields its aggregations read."""

    rpcs: firestore_rpcs.FirestoreRpcs
    aggregated: AggregatedFields

    def queries(self) -> list[tuple[QueryShape, tuple[str, ...]]]:
        plain = [(query, ()) for query in self.rpcs.queries if not query.aggregation]
        assert len(self.aggregated.queries) == len(self.rpcs.queries) - len(plain)
        return [*plain, *self.aggregated.queries]


@pytest.fixture
def recorded(env: dict[str, str]) -> Iterator[Recorded]:
    rpcs = firestore_rpcs.install()
    aggregated = AggregatedFields()
    db.observe_rpcs(aggregated)
    yield Recorded(rpcs, aggregated)
    db.stop_observing()


DEMO_ORG = "demo-org"
EMAILS = {Role.VENDOR: "vendor@demo.example", Role.EMPLOYEE: "ed@demo.example", Role.CUSTOMER: "alice@acme.example"}
OTHER_EMPLOYEE = "eva@demo.example"  # never linked to Telegram
NAMED_CUSTOMER = "demo-cust-1"  # Alice's profile, assigned to Ed: every role may name it
OTHER_CUSTOMER = "demo-cust-3"
PAGING = ("page_size", "cursor")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHATS = {Role.VENDOR: 7001, Role.EMPLOYEE: 7002, Role.CUSTOMER: 7003}
# The collections the code queries; the workload must reach each of them.
QUERIED = {model.collection for model in RECORD_TYPES.values()} | {
    "crm_users",
    "tg_links",
    "tg_audit",
    "tg_notifications",
}


@dataclass
class ToolWorkload:
    """Calls tools as the demo organisation's vendor, employee and customer, and notes which were called."""

    callers: dict[Role, Caller]
    samples: dict[str, Any]  # filter values by argument name: a customer and an order every role may name...
    called: set[tuple[Role, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, role: Role, name: str, args: dict[str, Any]) -> ToolResult:
        """Run a tool (after its Confirm preview when it changes data); it must succeed."""
        caller = self.callers[role]
        tool = tools.get(name)
        assert tool is not None, name
        if tool.changes_data:
            planned = plan_tool_call(caller, name, args)
            assert isinstance(planned, Change), f"{role.value} {name} {args}: {planned}"
        result = call_tool(caller, name, args)
        assert result["ok"] is True, f"{role.value} {name} {args}: {result}"
        with self._lock:
            self.called.add((role, name))
        return result

    def list_two_pages(self, role: Role, name: str, args: dict[str, Any]) -> None:
        first = self.call(role, name, {**args, "page_size": 2})
        if first["next_cursor"]:
            self.call(role, name, {**args, "page_size": 2, "cursor": first["next_cursor"]})

    def filter_values(self, tool: Tool[Any], name: str) -> list[Any]:
        """What one filter of a list tool takes in the workload: unset, and a value that filters."""
        annotation = tool.args_model.model_fields[name].annotation
        kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)] or [annotation]
        if kinds == [bool]:
            return [False, True]
        if typing.get_origin(kinds[0]) is Literal:
            return [None, typing.get_args(kinds[0])[0]]
        if name in self.samples:
            return [None, self.samples[name]]
        raise AssertionError(f"{tool.name}.{name}: the index workload has no value for this filter; add a sample")

    def filter_combinations(self, tool: Tool[Any]) -> list[dict[str, Any]]:
        """Every combination of the tool's filters, each unset or set."""
        names = [name for name in tool.args_model.model_fields if name not in PAGING]
        choices = [self.filter_values(tool, name) for name in names]
        return [
            {name: value for name, value in zip(names, values, strict=True) if value not in (None, False)}
            for values in itertools.product(*choices)
        ]

    def list_every_way(self) -> None:
        """Every list tool, as every role that may use it, with every combination of filters, and page two."""
        jobs = [
            (role, tool.name, args)
            for role in Role
            for tool in tools.for_role(role)
            if "cursor" in tool.args_model.model_fields
            for args in self.filter_combinations(tool)
        ]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda job: self.list_two_pages(*job), jobs))

    def change_and_read_records(self) -> None:
        """Every other tool, as every role that may use it."""
        vendor, employee, customer = Role.VENDOR, Role.EMPLOYEE, Role.CUSTOMER
        named, order = self.samples["customer"], self.samples["order"]
        # Records the CRM numbered itself have no sequence counter yet: the first creation looks for the highest.
        for model in RECORD_TYPES.values():
            sequence_ref(DEMO_ORG, model.collection).delete()
        created = self.call(vendor, "create_customer", {"name": "Index Ltd", "assigned_to_email": EMAILS[employee]})
        new_customer = str(created["created"]["number"])
        self.call(
            vendor, "assign_record", {"kind": "customer", "record": new_customer, "assignee_email": OTHER_EMPLOYEE}
        )
        for role in (vendor, employee):
            lead = self.call(role, "create_lead", {"name": f"Lead of the {role.value}"})["created"]["number"]
            self.call(role, "update_lead_status", {"lead": str(lead), "status": "contacted"})
            deal = self.call(role, "create_deal", {"title": "Index deal", "value": 100, "customer": named})
            number = str(deal["created"]["number"])
            self.call(role, "get_deal", {"deal": number})
            self.call(role, "update_deal_stage", {"deal": number, "stage": "closed_won"})
            issue = self.call(role, "create_issue", {"title": "Index issue", "customer": named})["created"]["number"]
            self.call(role, "update_issue_status", {"issue": str(issue), "status": "in_progress"})
            self.call(role, "record_payment", {"order": order, "amount": 10})
            periods: list[dict[str, Any]] = [{"period": period} for period in PERIOD_NAMES]
            day_from, day_to = self.samples["date_from"], self.samples["date_to"]
            periods += [{"date_from": day_from}, {"date_to": day_to}, {"date_from": day_from, "date_to": day_to}]
            for args in periods:
                self.call(role, "get_statistics", args)
        for role in Role:
            self.call(role, "get_customer", {"customer": named})
            self.call(role, "get_order", {"order": order})
        self.call(customer, "get_customer", {})
        self.call(customer, "create_issue", {"title": "My file is late"})
        self.call(vendor, "delete_record", {"kind": "customer", "record": new_customer})


def load_demo_organisation() -> tuple[dict[Role, Caller], dict[str, str]]:
    """The demo organisation in Firestore; its vendor, employee and customer, and everyone's password."""
    logins = demo.load_demo_data(demo.DEMO_DATA_PATH, iterations=FAST_ITERATIONS)
    callers = {}
    for role, email in EMAILS.items():
        user = get_crm().find_user_by_email(email)
        assert user is not None, email
        callers[role] = Caller(user.id, user.role, user.org_id, user.customer_id, CHATS[role], user.name)
    return callers, {email: password for email, password, _ in logins}


def tool_workload(callers: dict[Role, Caller]) -> ToolWorkload:
    named = get_crm().get_record(None, Customer, NAMED_CUSTOMER)
    assert named is not None
    orders = call_tool(callers[Role.VENDOR], "list_orders", {"customer": str(named.number)})
    today = clock.now().date()
    samples = {
        "customer": str(named.number),
        "order": str(orders["items"][0]["number"]),
        "text": "a",
        "date_from": today - dt.timedelta(days=90),
        "date_to": today,
    }
    return ToolWorkload(callers, samples)


# ----- the chat, notify and admin -----
def last_buttons(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """The callback_data of the inline buttons of the last message sent to a chat."""
    sent = [call for call in telegram.calls_to("sendMessage") if call.params.get("chat_id") == chat_id]
    markup = sent[-1].params.get("reply_markup") if sent else None
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = (markup or {}).get("inline_keyboard", [])
    return [str(button["callback_data"]) for row in rows for button in row if "callback_data" in button]


def log_in_and_use_every_command(
    webhook: FunctionServer,
    admin_fn: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    passwords: dict[str, str],
) -> None:
    """Guests' commands and a failed login; then each role links (password or code) and uses its commands."""
    guest = ChatUser(webhook, 7000)
    for command in commands.for_audience(GUEST):
        guest.send(f"/{command.name}")
    for line in ("/login", EMAILS[Role.EMPLOYEE], "not the password"):
        guest.send(line)

    for role in (Role.VENDOR, Role.CUSTOMER):
        user = ChatUser(webhook, CHATS[role])
        for line in ("/login", EMAILS[role], passwords[EMAILS[role]]):
            user.send(line)
    issued = admin_fn.post("/link-codes", json={"email": EMAILS[Role.EMPLOYEE]}, headers=AUTH)
    assert issued.status_code == 201, issued.text
    ChatUser(webhook, CHATS[Role.EMPLOYEE]).send(f"/start {issued.json()['code']}")
    assert admin_fn.post("/link-codes", json={"user_id": "demo-emp-eva"}, headers=AUTH).status_code == 201

    more_pressed = 0
    for role, chat_id in CHATS.items():
        assert "Welcome" in " ".join(telegram.sent_texts(chat_id)), f"the {role.value} did not log in"
        user = ChatUser(webhook, chat_id)
        for command in commands.for_audience(role):
            if command.name == "logout":
                continue
            user.send(f"/{command.name}")
            for data in last_buttons(telegram, chat_id):
                if data.startswith("crmmore:"):
                    assert post_update(webhook, callback_update(chat_id, data)).status_code == 200
                    more_pressed += 1
        user.send("/support")
        user.send("My file is late")
        gemini.enqueue(function_calls([("list_orders", {"open_only": True})]), text("Here are your orders."))
        user.send("Which orders are open?")
    assert more_pressed, "no listing of the chat had a More button: its paging went untried"


def deliver_notifications(notify_fn: FunctionServer, customer: Caller) -> None:
    """Events to a user by id and by email, to an unlinked user, and one a customer may not see."""
    file = {"file_id": "f1", "file_name": "stage1.bin"}
    bodies = [
        {"user_id": customer.crm_user_id, "data": {**file, "customer_id": customer.customer_id}},
        {"email": EMAILS[Role.VENDOR], "data": file},
        {"user_id": "demo-emp-eva", "data": file},
        {"user_id": customer.crm_user_id, "data": {**file, "customer_id": OTHER_CUSTOMER}},
    ]
    for number, body in enumerate(bodies, start=1):
        raw = json.dumps({"id": f"ix-{number}", "type": "file.received", "occurred_at": "2024-01-15T14:30:00Z", **body})
        signature = sign(raw.encode(), NOTIFY_SECRET, int(clock.now().timestamp()))
        headers = {"X-Signature": signature, "Content-Type": "application/json"}
        response = notify_fn.post("/", data=raw.encode(), headers=headers)
        assert response.status_code == 200, response.text


def call_admin_routes(admin_fn: FunctionServer) -> None:
    since = (clock.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = ["/stats", "/stats?days=30", "/audit", f"/audit?since={since}&limit=5", "/users"]
    paths += [f"/users?role={role.value}" for role in Role]
    paths += ["/notifications?status=failed", "/notifications?status=pending"]
    for path in paths:
        response = admin_fn.get(path, headers=AUTH)
        assert response.status_code == 200, f"{path}: {response.text}"
    for body in (None, {"statuses": ["failed"], "limit": 10}):
        response = admin_fn.post("/notifications/redrive", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
    response = admin_fn.post(f"/users/{CHATS[Role.VENDOR]}/unlink", headers=AUTH)
    assert response.status_code == 200, response.text


# ----- the check -----
def _index_json(index: IndexKey) -> dict[str, Any]:
    group, scope, fields = index
    return {
        "collectionGroup": group,
        "queryScope": scope,
        "fields": [{"fieldPath": name, "order": mode} for name, mode in fields],
    }


@pytest.mark.emulator
def test_every_query_has_its_composite_index_and_every_index_a_query(
    recorded: Recorded,
    webhook: FunctionServer,
    admin_fn: FunctionServer,
    notify_fn: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
) -> None:
    callers, passwords = load_demo_organisation()
    work = tool_workload(callers)
    work.list_every_way()
    work.change_and_read_records()
    log_in_and_use_every_command(webhook, admin_fn, telegram, gemini, passwords)
    deliver_notifications(notify_fn, callers[Role.CUSTOMER])
    call_admin_routes(admin_fn)
    ChatUser(webhook, CHATS[Role.CUSTOMER]).send("/logout")

    untried = sorted(
        f"{tool.name} as {role.value}"
        for role in Role
        for tool in tools.for_role(role)
        if (role, tool.name) not in work.called
    )
    assert not untried, f"the workload never called {', '.join(untried)}"
    queries = recorded.queries()
    assert {query.collection for query, _ in queries} >= QUERIED
    needs: dict[NeededIndex, QueryShape] = {}  # each index needed, and the first query that needs it
    for query, aggregated in queries:
        need = needed_index(query, aggregated)
        if need is not None:
            needs.setdefault(need, query)
    declared = declared_indexes()

    missing = [need for need in needs if not any(need.served_by(index) for index in declared)]
    assert not missing, (
        "these queries have no composite index:\n"
        + "".join(f"  {needs[need]}\n" for need in missing)
        + f'add to the "indexes" of {INDEXES_FILE.relative_to(ROOT)}:\n'
        + ",\n".join(as_snippet(need.as_json()) for need in missing)
    )
    unused = [_index_json(index) for index in declared if not any(need.served_by(index) for need in needs)]
    assert not unused, (
        f"no query needs these indexes; remove them from {INDEXES_FILE.relative_to(ROOT)}:\n"
        + ",\n".join(map(as_snippet, unused))
    )
    twice = [need.as_json() for need in needs if sum(need.served_by(index) for index in declared) > 1]
    assert not twice, "more than one declared index serves each of:\n" + ",\n".join(map(as_snippet, twice))
