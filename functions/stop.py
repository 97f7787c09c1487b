"""STOP trigger: carry out a STOP the SMS webhook queued (services/stop_requests.py). A storage error
raises, so the queue delivers the message again (host.json: maxDequeueCount) instead of losing it."""

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("erase_on_stop")
@bp.queue_trigger(arg_name="message", queue_name="stop-requests", connection="AzureWebJobsStorage")
def erase_on_stop(message: func.QueueMessage) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast
    from shared.services.stop_requests import StopRequestError

    try:
        get_services().stop_requests.carry_out(message.get_body().decode("utf-8", errors="replace"))
    except StopRequestError as exc:  # no STOP at all: retrying cannot mend it
        log.warning("a stop request was dropped: %s", exc)


@bp.function_name("retry_poisoned_stop")
@bp.queue_trigger(arg_name="message", queue_name="stop-requests-poison", connection="AzureWebJobsStorage")
def retry_poisoned_stop(message: func.QueueMessage) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast

    if not get_services().stop_requests.retry_poisoned(message.get_body().decode("utf-8", errors="replace")):
        log.warning("a poisoned stop request was dropped: it is no STOP")
