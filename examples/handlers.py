"""Example job handlers for `pgqrs worker run QUEUE handlers:FUNCTION` (docker/compose.yml runs one)."""

from __future__ import annotations

import logging

import pgqrs

logger = logging.getLogger("handlers")


def send_email(message: pgqrs.Message) -> None:
    """Pretends to send the email the payload describes; raising would mean a retry."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    if "to" not in payload:
        raise ValueError(f"message {message.id}: the payload has no 'to'")
    logger.info("email %s to %s (delivery %s)", message.id, payload["to"], message.read_ct)
