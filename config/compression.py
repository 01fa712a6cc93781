"""Responses compressed with gzip when the browser accepts it, except server-sent events.

Django's GZipMiddleware, with one exception: a `text/event-stream` response (the lab's run
page, live_lab/views.py::run_events) goes out as it is. Each event must reach the browser the
moment it is sent; Django's wrapper would turn every chunk of an async stream into a gzip
stream of its own, and a proxy or browser that buffers compressed bytes would hold events back.
An event is a few hundred bytes, so compression would save little anyway.

BREACH (https://breachattack.com, Django's note in
https://docs.djangoproject.com/en/5.2/ref/middleware/#module-django.middleware.gzip) needs a
secret and text the attacker chooses in the same compressed page, and many requests whose
sizes the attacker can watch. The secrets in our pages are CSRF tokens, which Django masks with
a new random value in every response (so no two responses carry the same bytes), and Django's
GZipMiddleware adds up to 100 random bytes to every compressed response ("Heal the Breach"),
so its length says little. Session ids are in cookies, never in a page. docs/PERFORMANCE.md,
"A class at once: bench/classroom.py", has the decision and what compression saves.
"""

from django.middleware.gzip import GZipMiddleware


class GZipExceptEventStreamsMiddleware(GZipMiddleware):
    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/event-stream"):
            return response
        return super().process_response(request, response)
