from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Participant',
            index=Index(fields=['course_id', 'id']),
        ),
        ops.AddIndex(
            model_name='Participant',
            index=Index(fields=['course_id', 'progress']),
        ),
    ]
