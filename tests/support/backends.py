"""E-mail backends that fail the way SMTP servers do (for the retry tests)."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend


class TransientFailBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class GreylistBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused(
            {m.to[0]: (451, b"4.7.1 Greylisted, try again later") for m in messages}
        )


class PermanentFailBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused(
            {m.to[0]: (550, b"5.1.1 No such user") for m in messages}
        )
