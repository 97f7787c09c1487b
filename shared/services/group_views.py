"""What operators read: the overview per theme, the groups with their members, failed texts, loads."""

from __future__ import annotations

from collections import Counter

from shared.adapters.interests import Rows
from shared.core.domain import FACILITATED, Group, GroupStatus, Interest, MessageStatus, more_needed
from shared.core.facilitators import Facilitator
from shared.services.notify import short_ref
from shared.services.operations_base import (
    FailedMessage,
    GroupView,
    MemberView,
    OperationError,
    OperationsBase,
    ThemeCount,
)


class GroupViews(OperationsBase):
    def overview(self) -> tuple[list[ThemeCount], list[FailedMessage]]:
        """Per theme (and area, when the organisation matches by area): who waits, how many more are
        needed for a group, groups by status; and every text that failed or was poisoned."""
        by_area = self._org.match_by_area
        order: list[tuple[str, str | None]] = []
        for theme in self._org.themes:
            order += [(theme.id, a.id) for a in self._org.areas] if by_area else [(theme.id, None)]
        counts: dict[tuple[str, str | None], Counter[str]] = {key: Counter() for key in order}
        for theme_id, label, area in self._interests.unit().waiting_and_groups():
            key = (theme_id, area if by_area else None)
            if key not in counts:
                counts[key] = Counter()
                order.append(key)
            counts[key][label] += 1
        minimum = self._org.group_size.min
        themes = [
            ThemeCount(
                theme=theme,
                area=area,
                waiting=c["waiting"],
                needed=more_needed(minimum, c["waiting"]),
                forming=c[GroupStatus.FORMING.value],
                active=c[GroupStatus.ACTIVE.value],
                awaiting_facilitator=c[GroupStatus.AWAITING_FACILITATOR.value],
            )
            for theme, area in order
            for c in [counts[(theme, area)]]
        ]
        return themes, self.failed_messages()

    def failed_messages(self) -> list[FailedMessage]:
        failed = [
            FailedMessage(
                theme=m.theme,
                row=m.key,
                kind=m.kind.value,
                status=m.status.value,
                error=m.error or (f"provider_{int(m.error_code)}" if m.error_code else "") or m.status.value,
                created_at=m.created_at,
                group_ref=short_ref(m.group_key),
            )
            for m in self._interests.unit().messages([MessageStatus.FAILED, MessageStatus.UNDELIVERED])
        ]
        return sorted(failed, key=lambda f: f.created_at, reverse=True)

    def groups(self, theme: str | None = None, status: str | None = None) -> list[GroupView]:
        if theme is not None and (not isinstance(theme, str) or self._org.theme(theme) is None):
            raise OperationError("invalid_filter", "theme")
        statuses: list[GroupStatus] = []
        if status is not None:
            try:
                statuses = [GroupStatus(status)]
            except ValueError:
                raise OperationError("invalid_filter", "status") from None
        rows = self._interests.unit()
        found = rows.groups(theme=theme, statuses=statuses)
        facilitators = {f.id: f for f in self._facilitators.list()}
        members = {t: rows.grouped(t) for t in sorted({g.theme for g in found})}
        found.sort(key=lambda g: (g.formed_at, g.key), reverse=True)
        return [self._view(g, members[g.theme], facilitators) for g in found]

    def group(self, group_id: str) -> GroupView | None:
        location = self._locate(group_id)
        if location is None:
            return None
        rows = self._interests.unit()
        group = rows.group(*location)
        if group is None:
            return None
        return self._view_of(rows, group)

    def _view_of(self, rows: Rows, group: Group) -> GroupView:
        found = rows.interests(group.theme, group.member_keys)
        members = {key: found[key] for key in group.member_keys if key in found}
        facilitator = self._facilitators.get(group.facilitator_id) if group.facilitator_id else None
        return self._view(group, members, {facilitator.id: facilitator} if facilitator else {})

    def _view(self, group: Group, interests: dict[str, Interest], facilitators: dict[str, Facilitator]) -> GroupView:
        facilitator = facilitators.get(group.facilitator_id or "")
        members = [
            MemberView(id=i.id, key=i.key, name=i.name, phone=i.phone)
            for i in (interests.get(k) for k in group.member_keys)
            if i is not None
        ]
        return GroupView(
            id=group.id,
            theme=group.theme,
            key=group.key,
            area=group.area,
            status=group.status.value,
            locale=group.locale,
            facilitator_id=group.facilitator_id,
            facilitator_name=facilitator.name if facilitator else None,
            members=members,
            formed_at=group.formed_at,
            first_meeting_at=group.first_meeting_at,
            meeting_place=group.meeting_place,
            closed_at=group.closed_at,
        )

    def facilitator_loads(self) -> dict[str, int]:
        """Facilitator id → groups they run now (forming or active); every known facilitator is listed."""
        loads: dict[str, int] = {f.id: 0 for f in self._facilitators.list()}
        for group in self._interests.unit().groups(statuses=FACILITATED):
            if group.facilitator_id:
                loads[group.facilitator_id] = loads.get(group.facilitator_id, 0) + 1
        return loads

    def statistics_csv(self) -> str:
        """month, theme, area, registrations, verified, groups_formed, median_days_to_group: no personal data."""
        return self._stats.csv()
