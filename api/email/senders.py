"""Who delivers the outbox's mail. settings.email_sender names a class ("module:Class") whose
instances have `async send(message)` and are made with the settings; LogSender is the default."""

import importlib
import logging
from dataclasses import dataclass
from typing import Protocol

from api.config import ApiSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingEmail:
    recipient: str
    subject: str
    body: str


class EmailSender(Protocol):
    async def send(self, message: OutgoingEmail) -> None:
        """Delivers the message or raises; a message that raised is tried again later."""


class LogSender:
    """Development: writes each message to the log instead of sending it."""

    def __init__(self, settings: ApiSettings) -> None:
        pass

    async def send(self, message: OutgoingEmail) -> None:
        log.info("email to %s: %s\n%s", message.recipient, message.subject, message.body)


def load_sender(settings: ApiSettings) -> EmailSender:
    module_name, _, class_name = settings.email_sender.partition(":")
    sender_class = getattr(importlib.import_module(module_name), class_name)
    sender: EmailSender = sender_class(settings)
    return sender
