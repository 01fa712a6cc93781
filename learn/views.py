from django.shortcuts import render

from learn.queries import catalog_topics, get_topic_page


def topic_list(request):
    return render(request, "learn/topic_list.html", {"topics": catalog_topics()})


def topic_detail(request, slug):
    topic = get_topic_page(slug)
    return render(request, "learn/topic_detail.html", {"topic": topic})
