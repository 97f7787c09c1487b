"""A resident's own withdrawal, through the API, once they are in a group."""

from __future__ import annotations

from collections import Counter

from shared.core.domain import MessageKind
from tests.support.tables import THEME, add_facilitator, groups, outbox, verified


def test_a_member_who_withdraws_leaves_the_group_the_facilitator_is_told_and_the_counts_stay(client, services):
    add_facilitator(services)
    ids = verified(services, 5)
    services.formation.form_theme(THEME)
    before = services.statistics.totals()
    # The withdraw token was given at registration; the verified() helper kept none, so register one more.
    created = client.post(
        "/api/interests",
        json={
            "theme": THEME,
            "name": "Sixten",
            "phone": "070-174 06 66",
            "area": "habo",
            "age_confirmed": True,
            "consent": True,
        },
    ).json()
    code = services.sender.messages()[-1].body.split()[0]
    assert client.post(f"/api/interests/{created['id']}/verify", json={"code": code}).status_code == 200
    services.formation.form_theme(THEME)  # the sixth joins the open group
    [group] = groups(services)
    assert len(group.member_keys) == 6

    response = client.delete(
        f"/api/interests/{created['id']}", headers={"authorization": f"Bearer {created['withdraw_token']}"}
    )

    assert response.status_code == 204
    [group] = groups(services)
    assert len(group.member_keys) == 5 and all(f"{THEME}.{k.split('.')[1]}" in ids for k in group.member_keys)
    left = [m for m in outbox(services) if m.kind is MessageKind.MEMBER_LEFT]
    assert len(left) == 1 and left[0].subject_name == "Sixten"
    after = services.statistics.totals()
    registrations = Counter({k: v.registrations for k, v in after.items()})
    assert sum(registrations.values()) == sum(v.registrations for v in before.values()) + 1
    assert "+46701740666" not in str([dict(e) for e in services.storage.table("interests").list_entities()])
