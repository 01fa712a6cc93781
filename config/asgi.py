import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The event loop that pushes the lab's server-sent events shares the interpreter lock with
# request threads and the lab's observer; Python's default 5 ms switch interval put up to
# 5 ms between the observer's reading and the push (docs/PERFORMANCE.md).
sys.setswitchinterval(0.001)
application = get_asgi_application()
