from django.http import JsonResponse
from django.views.decorators.http import require_GET

from live_lab.queries import describe_setup, worker_answers_ping


@require_GET
def healthz(request):
    return JsonResponse({**describe_setup(), "worker": worker_answers_ping()})
