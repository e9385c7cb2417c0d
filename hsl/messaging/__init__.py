"""Messaging: Telegram broadcasts to a cohort (templates, campaigns, delivery, transports)."""
