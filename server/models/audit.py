"""Audit events: who did what to whom, and when."""

from tortoise import fields
from tortoise.models import Model


class AuditEvent(Model):
    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor = fields.CharField(max_length=200)
    action = fields.CharField(max_length=64, db_index=True)
    target = fields.CharField(max_length=400)
    course_id = fields.IntField(null=True, db_index=True)
    detail = fields.JSONField(default=dict)

    class Meta:
        table = "audit_events"
