"""A facilitator's note from their page reaches the coordinator's phone, end to end (issue 24.3): posted on
the page, written as an outbox row, sent by notify through the sender; the facilitator gets no copy."""

from __future__ import annotations

from shared.composition import Services
from tests.support.facilitator_page import (
    ADMIN,
    BASE,
    EVA,
    LINK_SECRET,
    client_of,
    open_page,
    roster_link,
    send_all,
    texts_to,
)
from tests.support.tables import groups

NOTE = "Lokalen är bokad till sista träffen"


def test_a_report_from_the_page_reaches_the_coordinator_and_nobody_else(make_services) -> None:
    services: Services = make_services(PUBLIC_BASE_URL=BASE, ADMIN_TOKEN=ADMIN, FACILITATOR_LINK_SECRET=LINK_SECRET)
    with client_of(services) as client:
        token = open_page(client, roster_link(services))
        [group] = groups(services)
        before = len(services.sender.messages())  # type: ignore[attr-defined]
        response = client.post(f"/f/groups/{group.id}/report", data={"csrf": token, "note": NOTE})
        assert response.status_code == 303
    send_all(services)
    coordinator = services.organisation.coordinator_phone
    assert coordinator != EVA
    sent = services.sender.messages()[before:]  # type: ignore[attr-defined]
    assert [m.to for m in sent if NOTE in m.body] == [coordinator]
    [report] = [body for body in texts_to(services, coordinator) if NOTE in body]
    assert "Eva" in report  # who wrote it
    assert not any(NOTE in body for body in texts_to(services, EVA))
