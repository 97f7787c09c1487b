"""Notification triggers: send the outbox rows a queue message names; record what ends in the poison queue."""

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("send_notification")
@bp.queue_trigger(arg_name="message", queue_name="notifications", connection="AzureWebJobsStorage")
def send_notification(message: func.QueueMessage) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast

    handled = get_services().notifier.handle(message.get_body().decode("utf-8", errors="replace"))
    # One line per text: the failed-texts alert (infra/modules/alerts.bicep) counts these outcomes.
    for outcome in handled.outcomes.values():
        log.info("notification %s (attempt %s)", outcome.reason, message.dequeue_count)


@bp.function_name("record_poisoned_notification")
@bp.queue_trigger(arg_name="message", queue_name="notifications-poison", connection="AzureWebJobsStorage")
def record_poisoned_notification(message: func.QueueMessage) -> None:
    from shared.composition import get_services  # imported on first call: keeps indexing fast

    get_services().notifier.record_poisoned(message.get_body().decode("utf-8", errors="replace"))
