"""Publication of a requested resource not yet published (Art 27).

"若共享信息尚未发布,信息发布单位应在收到《政务信息共享实施申请书》五个工作日内...完成共享信息发布":
the publisher owes publication within 5 working days of receiving the filing (Art 25). The duty
is listed beside the request's other steps with its deadline and duty-holder, becomes overdue
after the deadline, and clears when the catalogue entry is published.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from federation_kit import build, opened
from test_catalogue import ENTRY

from fjshare import ids
from fjshare.clock import parse_time
from fjshare.node import catalogue, registry, requests
from fjshare.sharing.calendar import WorkingCalendar
from fjshare.sharing.requests import duties, publication, step

CODE = "101001/000101"
PUBLICATION = "publication of the resource's catalogue entry (Art 27)"


@pytest.fixture
def xiamen(tmp_path, monkeypatch):
    """A province and Xiamen, where the civil affairs bureau has registered a conditional entry
    that is not yet published, and the human resources bureau wants it."""
    import tomllib

    monkeypatch.delenv("FJSHARE_NOW", raising=False)
    fed = build(tmp_path, cities=("350200",))
    xm = fed.cities["350200"]
    publisher, requester = ids.make_uscc("350203", "MB010001"), ids.make_uscc("350203", "MB050005")
    with opened(xm) as c:
        registry.add_agency(c, publisher, name="思明区民政局", region="350203")
        registry.add_user(c, "reg", agency=publisher, role="registrar")
        registry.add_user(c, "rev", agency=publisher, role="reviewer")
        registry.add_agency(c, requester, name="思明区人社局", region="350203")
        registry.add_user(c, "req", agency=requester, role="analyst")
        registry.add_user(c, "req-admin", agency=requester, role="admin")
    conditional = 'share_type = "conditional"\nlegal_basis = "《婚姻登记条例》"\nshare_condition = "仅用于就业补贴核验"'
    data = tomllib.loads(ENTRY.format(agency=publisher).replace('share_type = "unconditional"', conditional))
    with opened(xm, "reg") as c:
        catalogue.register(c, data)
        catalogue.submit(c, CODE)
    with opened(xm, "rev") as c:
        catalogue.review(c, CODE, approve=True)     # approved, not yet published
    yield fed, publisher
    fed.stop_server()


def file_request(fed) -> dict:
    xm = fed.cities["350200"]
    with opened(xm, "req") as c:
        rid = requests.create(c, CODE, mode="query", items=["name"], purpose="就业补贴核验", until="2099-12-31")["id"]
    with opened(xm, "req-admin") as c:
        record = requests.review(c, rid, approve=True)
    fed.settle_all()
    return record


def publication_rows(home) -> list[dict]:
    with opened(home) as c:
        return [r for r in requests.listing(c) if r["awaiting"] == PUBLICATION]


def publish_entry(fed) -> None:
    xm = fed.cities["350200"]
    with opened(xm) as c:
        catalogue.confirm_basis(c, CODE)
    with opened(xm, "reg") as c:
        catalogue.publish(c, CODE)
    fed.settle_all()


def test_request_for_an_unpublished_resource_puts_publication_on_its_agency_within_five_working_days_art27(xiamen):
    fed, publisher = xiamen
    record = file_request(fed)
    assert record["resource_published"] is False
    filed = parse_time(next(e["at"] for e in record["events"] if e["event"] == "filed"))
    due = WorkingCalendar().working_days_after(filed, 5)
    for home in (fed.province, fed.cities["350200"]):   # the office sees the duty as the parties do
        [row] = publication_rows(home)
        assert row["id"] == record["id"] and row["duty"] == f"agency {publisher} at node 350200"
        assert row["deadline"] == due.describe() and row["overdue"] is False
    with opened(fed.province) as p:   # beside it, the publisher's window to object (Art 26)
        assert [r["awaiting"] for r in requests.listing(p)] == [PUBLICATION, "objection by the publisher, if any (Art 26)"]


def test_unpublished_resource_is_listed_overdue_after_five_working_days_art27(xiamen, monkeypatch, run_cli):
    fed, publisher = xiamen
    record = file_request(fed)
    filed = parse_time(next(e["at"] for e in record["events"] if e["event"] == "filed"))
    due = WorkingCalendar().working_days_after(filed, 5).due
    monkeypatch.setenv("FJSHARE_NOW", (due - dt.timedelta(minutes=1)).isoformat())
    r = run_cli("--home", fed.province, "request", "list", "--overdue", "--json")
    assert r.code == 0 and json.loads(r.out) == []
    monkeypatch.setenv("FJSHARE_NOW", (due + dt.timedelta(minutes=1)).isoformat())
    r = run_cli("--home", fed.province, "request", "list", "--overdue", "--json")
    [late] = json.loads(r.out)     # the authorisation (5 working days after the window) is not yet late
    assert (late["id"], late["awaiting"], late["duty"]) == (record["id"], PUBLICATION, f"agency {publisher} at node 350200")
    assert late["state"] == "authorising" and late["overdue"] is True


def test_publication_duty_clears_when_the_entry_is_published_art27(xiamen, monkeypatch, run_cli):
    fed, publisher = xiamen
    record = file_request(fed)
    filed = parse_time(next(e["at"] for e in record["events"] if e["event"] == "filed"))
    monkeypatch.setenv("FJSHARE_NOW", (WorkingCalendar().working_days_after(filed, 5).due + dt.timedelta(hours=1)).isoformat())
    assert publication_rows(fed.province)[0]["overdue"]
    publish_entry(fed)                 # late, but done: the entry reaches the province's catalogue
    for home in (fed.province, fed.cities["350200"]):
        assert publication_rows(home) == []
    r = run_cli("--home", fed.province, "request", "list", "--overdue", "--json")
    assert json.loads(r.out) == []
    with opened(fed.province) as p:
        [row] = requests.listing(p)
        assert (row["id"], row["state"]) == (record["id"], "authorising")


def test_evaluation_counts_a_late_publication_against_the_publisher_art27_art40(xiamen, monkeypatch):
    """Art 40(2): the publisher that has not published within 5 working days of the filing is
    counted overdue; once it publishes, late, the duty is counted answered late instead."""
    from fjshare.node import evaluation

    fed, publisher = xiamen
    record = file_request(fed)
    filed = parse_time(next(e["at"] for e in record["events"] if e["event"] == "filed"))
    due = WorkingCalendar().working_days_after(filed, 5).due

    def publisher_row() -> dict:
        with opened(fed.province) as p:
            return next(a for a in evaluation.evaluate(p, due.year)["agencies"] if a["code"] == publisher)

    monkeypatch.setenv("FJSHARE_NOW", (due - dt.timedelta(minutes=1)).isoformat())
    assert publisher_row()["signals"]["publication_overdue"] == 0
    monkeypatch.setenv("FJSHARE_NOW", (due + dt.timedelta(minutes=1)).isoformat())
    late = publisher_row()
    assert late["signals"]["publication_overdue"] == 1 and late["requests"]["open_overdue"] == 1
    assert late["art40"]["2"] >= 1
    publish_entry(fed)
    monkeypatch.setenv("FJSHARE_NOW", (due + dt.timedelta(hours=2)).isoformat())
    done = publisher_row()
    assert done["signals"]["publication_overdue"] == 0 and done["requests"]["open_overdue"] == 0
    assert done["requests"]["late"] == 1


def test_a_request_for_a_published_resource_owes_no_publication_art27(xiamen):
    fed, publisher = xiamen
    publish_entry(fed)
    record = file_request(fed)
    assert record["resource_published"] is True and publication_rows(fed.province) == []


# The rules themselves, on request records (pure, no federation).

def _record(*events: tuple[str, str], state: str, published: bool = False) -> dict:
    return {"id": "350200-1", "state": state, "resource_published": published, "agency": "A", "node": "350200",
            "provider": "P", "provider_node": "350200", "created": "2025-03-03T09:00:00+08:00",
            "events": [{"event": name, "at": at} for name, at in events]}


MONDAY = "2025-03-03T09:00:00+08:00"      # a week without holidays: 5 working days end on the next Monday
CAL = WorkingCalendar()


def test_publication_runs_from_the_filing_not_from_the_grant_art27():
    record = _record(("filed", MONDAY), ("granted", "2025-03-20T09:00:00+08:00"), state="granted")
    owed = step(record, CAL, parse_time("2025-03-20T10:00:00+08:00"))
    assert owed.awaiting == PUBLICATION and owed.overdue
    assert owed.deadline == CAL.working_days_after(parse_time(MONDAY), 5)
    assert step(record, CAL, parse_time("2025-03-20T10:00:00+08:00"), entry_published=True).awaiting is None


def test_an_objection_suspends_publication_and_a_dismissal_restarts_it_art26_art27():
    objected = _record(("filed", MONDAY), ("objected", "2025-03-04T09:00:00+08:00"), state="objected")
    late = parse_time("2025-04-30T09:00:00+08:00")
    assert publication(objected, CAL, late) is None
    assert [d.awaiting for d in duties(objected, CAL, late)] == ["coordination of the objection (Art 26)"]
    dismissed = _record(("filed", MONDAY), ("objected", "2025-03-04T09:00:00+08:00"),
                        ("dismissed", "2025-03-10T09:00:00+08:00"), state="authorising")
    owed = publication(dismissed, CAL, parse_time("2025-03-12T09:00:00+08:00"))
    assert owed is not None and owed.deadline == CAL.working_days_after(parse_time("2025-03-10T09:00:00+08:00"), 5)
    assert not owed.overdue


@pytest.mark.parametrize("state", ["submitted", "refused", "denied", "revoked"])
def test_no_publication_is_owed_for_a_request_not_on_its_way_to_a_grant_art27(state):
    record = _record(("filed", MONDAY), state=state)
    assert publication(record, CAL, parse_time("2025-04-30T09:00:00+08:00")) is None


def test_a_withdrawn_resource_can_no_longer_be_requested_art16(xiamen):
    from fjshare.errors import Refused

    fed, _ = xiamen
    publish_entry(fed)
    xm = fed.cities["350200"]
    with opened(xm, "reg") as c:
        catalogue.withdraw(c, CODE, reason="并入新目录")
    with opened(xm, "req") as c:
        with pytest.raises(Refused, match="withdrawn"):
            requests.create(c, CODE, mode="query", items=["name"], purpose="就业补贴核验", until="2099-12-31")
        assert c.conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 0
