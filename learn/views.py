from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from learn.forms import SignupForm
from learn.queries import catalog_topics, get_topic_page


def topic_list(request):
    return render(request, "learn/topic_list.html", {"topics": catalog_topics()})


def topic_detail(request, slug):
    topic = get_topic_page(slug)
    return render(request, "learn/topic_detail.html", {"topic": topic})


def signup(request):
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user)
            return redirect(safe_next(request) or "learn:topic_list")
    else:
        form = SignupForm()
    return render(request, "registration/signup.html", {"form": form, "next": safe_next(request)})


def safe_next(request) -> str:
    """The ?next= target when it stays on this site, else ""."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return ""
