"""The site's URLs plus /crash/, a view that fails: for the tests of the 500 page
(`pytest.mark.urls("tests.urls")`). The site itself never routes it."""

from django.urls import include, path


def crash(request):
    raise RuntimeError("a bug, on purpose: the tests of the 500 page")


urlpatterns = [path("crash/", crash), path("", include("config.urls"))]
