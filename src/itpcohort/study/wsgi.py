"""The WSGI application gunicorn serves (after :func:`itpcohort.study.runtime.setup`)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itpcohort.study.settings")
application = get_wsgi_application()
