"""Quality gates and their evaluation, alert state without noise, the Apprise notifier
with its outbox, and reports."""
