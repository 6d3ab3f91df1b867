"""Zapa's Celery app: `celery -A zapa_site worker` and `celery -A zapa_site beat`.

Configured from Django's settings (the CELERY_* names). With CELERY_BROKER_URL empty,
the laptop default, tasks run eagerly in the calling process after the transaction
commits, and `manage.py run_scheduler` runs the periodic jobs.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zapa_site.settings")

app = Celery("zapa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
