"""Inbound edges: provider payloads validated, then normalised into one event type each.

``email`` turns a parsed-email JSON body or an ``EmailMessage`` into ``InboundEmail``;
``smtp_listener`` receives mail over SMTP and hands each parsed message to a callback.
"""

from channels.inbound.email import InboundEmail, InboundEmailPayload, from_message, from_payload

__all__ = ["InboundEmail", "InboundEmailPayload", "from_message", "from_payload"]
