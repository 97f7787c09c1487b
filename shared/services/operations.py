"""What operators do, as one service the admin pages (and the JSON API) call. Its parts:

- services/operations_base.py  inputs, errors and views shared by the parts
- services/group_views.py      the overview, groups with members, failed texts, facilitator loads
- services/group_commands.py   assign, first meeting, remove a member, close; send a failed text again
- services/data_requests.py    a resident's data: export and erasure on request

Bad input raises `OperationError` whose `code` is a message key ("not_found", "invalid_state",
"facilitator_not_found", "facilitator_unavailable", "invalid_meeting", "invalid_phone",
"invalid_filter", "conflict"), with an optional `detail` that says which rule ("capacity", "past",
"place_too_long", …). Neither ever holds personal data, and nothing here logs a name, a number or a code.
"""

from __future__ import annotations

from shared.services.data_requests import DataSubjectRequests
from shared.services.group_commands import GroupCommands


class Operations(GroupCommands, DataSubjectRequests):
    """The operators' service: every part shares one constructor (OperationsBase)."""


__all__ = ["Operations"]
