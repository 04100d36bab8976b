"""Environmental monitoring, the Django side: aggregates and retention of readings, effective
monitoring profiles and their audited per-sensor overrides, persisted alarms and their immutable
history, the alarm service that runs inside ingest, notifications (e-mail, signed webhooks,
escalation, flood summaries), the live alarm console and the compliance reports.

The alarm state machine itself is ``sensors.alarms`` (pure Python); this app stores, shows and
delivers what it decides.
"""
