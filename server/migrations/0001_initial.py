from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from server.models.outbox import OutboxStatus
from server.models.participants import EmailStatus, ParticipantKind, ParticipantStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('scope', fields.CharField(max_length=32)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_tokens', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('actor', fields.CharField(max_length=200)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('target', fields.CharField(max_length=400)),
                ('course_id', fields.IntField(null=True, db_index=True)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_events', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Course',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('published', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'courses', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Group',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=150)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'groups', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AutoEnrollRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('course', fields.ForeignKeyField('models.Course', source_field='course_id', db_constraint=True, to_field='id', related_name='auto_enroll_rules', on_delete=OnDelete.CASCADE)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='auto_enroll_rules', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'auto_enroll_rules', 'app': 'models', 'unique_together': (('course', 'group'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Lesson',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('course', fields.ForeignKeyField('models.Course', source_field='course_id', db_constraint=True, to_field='id', related_name='lessons', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'lessons', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Quiz',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('course', fields.OneToOneField('models.Course', source_field='course_id', db_constraint=True, to_field='id', related_name='quiz', on_delete=OnDelete.CASCADE)),
                ('pass_mark', fields.IntField(default=80)),
                ('max_attempts', fields.IntField(null=True)),
            ],
            options={'table': 'quizzes', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Question',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('quiz', fields.ForeignKeyField('models.Quiz', source_field='quiz_id', db_constraint=True, to_field='id', related_name='questions', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('text', fields.TextField(unique=False)),
            ],
            options={'table': 'questions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Choice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('question', fields.ForeignKeyField('models.Question', source_field='question_id', db_constraint=True, to_field='id', related_name='choices', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('text', fields.TextField(unique=False)),
                ('correct', fields.BooleanField(default=False)),
            ],
            options={'table': 'choices', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=150)),
                ('display_name', fields.CharField(default='', max_length=200)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('email_key', fields.CharField(null=True, unique=True, max_length=320)),
                ('active', fields.BooleanField(default=True)),
                ('is_admin', fields.BooleanField(default=False)),
                ('password_hash', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EnrollmentExclusion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('course', fields.ForeignKeyField('models.Course', source_field='course_id', db_constraint=True, to_field='id', related_name='exclusions', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='exclusions', on_delete=OnDelete.CASCADE)),
                ('removed_by', fields.CharField(max_length=200)),
                ('removed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'enrollment_exclusions', 'app': 'models', 'unique_together': (('course', 'user'),), 'pk_attr': 'id', 'table_description': 'A user a manager removed from a course: auto-enrollment must not bring them back.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Membership',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'memberships', 'app': 'models', 'unique_together': (('group', 'user'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Participant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('course', fields.ForeignKeyField('models.Course', source_field='course_id', db_constraint=True, to_field='id', related_name='participants', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='INTERNAL: INTERNAL\nEXTERNAL: EXTERNAL', enum_type=ParticipantKind, max_length=8)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='participations', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('email_key', fields.CharField(null=True, max_length=320)),
                ('name', fields.CharField(max_length=320)),
                ('enrolled_via', fields.CharField(null=True, max_length=200)),
                ('enrolled_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('link_hash', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharEnumField(default=ParticipantStatus.NOT_STARTED, description='NOT_STARTED: NOT_STARTED\nIN_PROGRESS: IN_PROGRESS\nCOMPLETED: COMPLETED\nPASSED: PASSED\nFAILED: FAILED', enum_type=ParticipantStatus, max_length=12)),
                ('progress', fields.FloatField(default=0.0)),
                ('score', fields.IntField(null=True)),
                ('attempts', fields.IntField(default=0)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_activity_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('email_status', fields.CharEnumField(default=EmailStatus.NOT_SENT, description='NOT_SENT: NOT_SENT\nQUEUED: QUEUED\nSENT: SENT\nFAILED: FAILED', enum_type=EmailStatus, max_length=8)),
                ('email_error', fields.TextField(null=True, unique=False)),
                ('email_sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'participants', 'app': 'models', 'unique_together': (('course', 'user'), ('course', 'email_key')), 'indexes': [Index(fields=['course_id', 'name']), Index(fields=['course_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LessonCompletion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('participant', fields.ForeignKeyField('models.Participant', source_field='participant_id', db_constraint=True, to_field='id', related_name='completions', on_delete=OnDelete.CASCADE)),
                ('lesson', fields.ForeignKeyField('models.Lesson', source_field='lesson_id', db_constraint=True, to_field='id', related_name='completions', on_delete=OnDelete.CASCADE)),
                ('completed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'lesson_completions', 'app': 'models', 'unique_together': (('participant', 'lesson'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('participant', fields.ForeignKeyField('models.Participant', source_field='participant_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('to_address', fields.CharField(max_length=320)),
                ('subject', fields.CharField(max_length=400)),
                ('body_text', fields.TextField(unique=False)),
                ('body_html', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=OutboxStatus.QUEUED, description='QUEUED: QUEUED\nSENT: SENT\nFAILED: FAILED\nCANCELLED: CANCELLED', enum_type=OutboxStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=100)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbox_messages', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='QuizAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('participant', fields.ForeignKeyField('models.Participant', source_field='participant_id', db_constraint=True, to_field='id', related_name='quiz_attempts', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('score', fields.IntField()),
                ('passed', fields.BooleanField()),
                ('answers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('submitted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'quiz_attempts', 'app': 'models', 'unique_together': (('participant', 'number'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
