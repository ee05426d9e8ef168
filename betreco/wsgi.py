"""WSGI entry point: `gunicorn betreco.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "betreco.settings")

application = get_wsgi_application()
