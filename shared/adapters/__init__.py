"""Adapters at the edge: Table Storage and queues, the rate limiter, SMS senders, Jinja2 templates."""
