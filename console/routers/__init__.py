"""One router per resource: homes, alerts, outbox."""
