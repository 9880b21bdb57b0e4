"""The mail outbox: messages written in the enrollment's own transaction."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OutboxStatus(StrEnum):
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class OutboxMessage(Model):
    id = fields.IntField(primary_key=True)
    participant = fields.ForeignKeyField("models.Participant", related_name="messages", null=True, on_delete=fields.SET_NULL)
    to_address = fields.CharField(max_length=320)
    subject = fields.CharField(max_length=400)
    # Holds the link until the message is sent, then is scrubbed.
    body_text = fields.TextField()
    body_html = fields.TextField()
    status = fields.CharEnumField(OutboxStatus, max_length=10, default=OutboxStatus.QUEUED)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    lease_until = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=100, null=True)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_messages"
        indexes = (("status", "next_attempt_at"),)
