"""The directory: internal users and the groups they belong to."""

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=150, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    # Normalized address as shown; email_key is its case-folded form, used for matching.
    email = fields.CharField(max_length=320, null=True)
    email_key = fields.CharField(max_length=320, null=True, unique=True)
    active = fields.BooleanField(default=True)
    is_admin = fields.BooleanField(default=False)
    password_hash = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class Group(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=150, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "groups"


class Membership(Model):
    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField("models.Group", related_name="memberships", on_delete=fields.CASCADE)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField("models.User", related_name="memberships", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "memberships"
        unique_together = (("group", "user"),)
