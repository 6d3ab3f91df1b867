"""Settings of the benchmark server: Zapa's own settings, plus the baseline views.

Only bench/run.py uses this module (DJANGO_SETTINGS_MODULE=bench.settings with
ZAPA_BENCH=1); production never mounts the bench URLconf.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from zapa_site.settings import *  # noqa: F403

if os.environ.get("ZAPA_BENCH") != "1":
    raise ImproperlyConfigured("bench.settings is only for bench/run.py (set ZAPA_BENCH=1).")

ROOT_URLCONF = "bench.urls"
