"""SMS senders: one small interface (`base`), two real implementations (`twilio`, `local`).
Import each name from the module that defines it; this package re-exports nothing.

- `TwilioSender` sends through the `twilio` SDK. `api_base_url` points it at a Twilio-compatible
  gateway or at the loopback test server instead of https://api.twilio.com.
- `LocalOutboxSender` keeps messages in memory and prints them; `make dev` uses it when no Twilio
  settings are given.

Errors are split the way the notify function needs them: `PermanentSmsError` is recorded on the
outbox row and never retried; `TransientSmsError` is raised again so the queue retries the message.
No exception message made here contains a phone number or a message body (provider messages do,
e.g. "The 'To' number +4670… is not a valid phone number", so they are never copied).

Importing `twilio.py` imports neither `twilio` nor `requests`: cold starts stay short, and the
client is built on the first send.
"""
