"""Services: the use cases (intake, formation, notify, erasure, retention, lifecycle, operations).

They speak to storage, queues and SMS only through shared.adapters."""
