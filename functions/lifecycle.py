"""Lifecycle timer: once a day, move groups along (reminders, on their own, check-ins, stuck and quiet groups)
and erase what retention says is due. The work is in shared/services/lifecycle.py and
shared/services/retention.py."""

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("run_lifecycle")
@bp.timer_trigger(arg_name="timer", schedule="%LIFECYCLE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def run_lifecycle(timer: func.TimerRequest) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast

    report = get_services().lifecycle.run()
    log.info(
        "lifecycle: %s reminders, %s on their own, %s check-ins, %s stuck groups escalated, "
        "%s quiet groups reported, %s handed over, %s messages queued",
        report.reminders,
        report.on_its_own,
        report.check_ins,
        report.escalated,
        report.quiet_reported,
        report.quiet_handed_over,
        report.messages_queued,
    )
