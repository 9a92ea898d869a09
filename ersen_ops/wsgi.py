"""WSGI entry point (gunicorn ersen_ops.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ersen_ops.settings")
application = get_wsgi_application()
