"""What needs the coordinator now, for the top of the overview (read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.interests import InterestsTable
from shared.core.domain import GroupStatus
from shared.core.needs import Need, Verdict
from shared.services.needs import NeedsReader


@dataclass(frozen=True)
class Attention:
    awaiting_facilitator: int  # groups formed, nobody invited until a facilitator is assigned
    awaiting_first_meeting: int  # a facilitator is assigned; no first meeting set yet
    stuck: int  # escalated to the coordinator before their first meeting
    unserved: list[Need]  # theme × area rows where people wait and no trained facilitator serves
    failed_texts: int

    @property
    def anything(self) -> bool:
        return bool(
            self.awaiting_facilitator or self.awaiting_first_meeting or self.stuck or self.unserved or self.failed_texts
        )


def attention(interests: InterestsTable, needs: NeedsReader, failed_texts: int) -> Attention:
    groups = interests.unit().groups(statuses=[GroupStatus.AWAITING_FACILITATOR, GroupStatus.FORMING])
    return Attention(
        awaiting_facilitator=sum(1 for g in groups if g.status is GroupStatus.AWAITING_FACILITATOR),
        awaiting_first_meeting=sum(1 for g in groups if g.status is GroupStatus.FORMING and g.first_meeting_at is None),
        stuck=sum(1 for g in groups if g.escalated_at is not None),
        unserved=[n for n in needs.needs() if n.verdict is Verdict.TRAIN],
        failed_texts=failed_texts,
    )
