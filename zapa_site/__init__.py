# Loaded with Django so that @shared_task uses Zapa's Celery app.
from zapa_site.celery import app as celery_app

__all__ = ("celery_app",)
