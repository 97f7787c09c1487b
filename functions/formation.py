"""Formation triggers: a queue message per verification forms groups for that theme at once;
a timer sweeps every theme and re-sends what a crash left pending. Both call the same service."""

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("form_groups_on_request")
@bp.queue_trigger(arg_name="message", queue_name="formation-requests", connection="AzureWebJobsStorage")
def form_groups_on_request(message: func.QueueMessage) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast
    from shared.services.formation_requests import FormationRequestError, parse_formation_request

    services = get_services()
    try:
        theme = parse_formation_request(message.get_body().decode("utf-8", errors="replace"))
    except FormationRequestError:  # retrying cannot fix it, and the timer sweep forms every theme's groups
        log.warning("malformed formation request dropped")
        return
    if services.organisation.theme(theme) is None:
        log.warning("formation request for an unknown theme dropped")  # retrying cannot make it known
        return
    report = services.formation.form_theme(theme)
    log.info("formation: %s groups formed, %s joined", report.groups_formed, report.members_joined)


@bp.function_name("sweep_formation")
@bp.timer_trigger(arg_name="timer", schedule="%FORMATION_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep_formation(timer: func.TimerRequest) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast

    report = get_services().formation.sweep()
    log.info(
        "sweep: %s groups formed, %s joined, %s facilitators assigned, %s messages queued",
        report.groups_formed,
        report.members_joined,
        report.facilitators_assigned,
        report.messages_queued,
    )
