"""AuditLog moves here from accounts, keeping its table (accounts_auditlog) and rows.

The table was created by accounts.0001_initial; this migration only takes the model
into core's state, and moves its content type, so permissions granted on it (and
admin log entries about it) stay attached. accounts.0002 drops it from accounts' state.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="accounts", target="core"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if ContentType.objects.using(db).filter(app_label=target, model="auditlog").exists():
        return
    ContentType.objects.using(db).filter(app_label=source, model="auditlog").update(
        app_label=target
    )


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="core", target="accounts")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditLog",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "created_at",
                            models.DateTimeField(default=django.utils.timezone.now, editable=False),
                        ),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("action", models.CharField(max_length=64)),
                        ("resource_type", models.CharField(blank=True, max_length=64)),
                        ("resource_id", models.CharField(blank=True, max_length=64)),
                        ("changes", models.JSONField(blank=True, default=dict)),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.TextField(blank=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="audit_entries",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "accounts_auditlog",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
                            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
                            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
                            models.Index(
                                fields=["resource_type", "resource_id"],
                                name="audit_resource_idx",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
