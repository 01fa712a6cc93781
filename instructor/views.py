import io
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from dashboard.progress import Mastery, topics_with_progress
from instructor import charts
from instructor.exports import write_grades, write_items, write_misconceptions
from instructor.forms import CohortForm, JoinCodeForm, MisconceptionSortForm, SortForm
from instructor.item_analysis import (
    ANSWER_TIME_NOTE,
    CONFIDENT_WRONG_HIGH,
    DISCRIMINATION_LOW,
    FACILITY_HIGH,
    FACILITY_LOW,
    FLAG_MIN_RESPONSES,
    item_analysis,
)
from instructor.misconception_map import SORTS as MAP_SORTS
from instructor.misconception_map import get_misconception, learner_misconceptions, misconception_map
from instructor.queries import (
    INACTIVE_AFTER,
    activity_timeline,
    challenge_progress,
    cohort_grid,
    cohorts_for,
    flashcard_retention,
    get_cohort_by_code,
    get_cohort_for,
    get_member_for,
    is_member_of,
    learner_attempts,
    learner_lab_runs,
    sort_rows,
)
from instructor.services import create_cohort, join_cohort
from learn.queries import INSTRUCTOR_NAV_FLAG, is_instructor

NAV_FLAG = INSTRUCTOR_NAV_FLAG


def instructor_required(view):
    """Anonymous visitors go to log in; signed-in people without the role get a 403 page."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not is_instructor(request.user):
            request.session.pop(NAV_FLAG, None)
            return render(request, "instructor/forbidden.html", status=403)
        if not request.session.get(NAV_FLAG):
            request.session[NAV_FLAG] = True
        return view(request, *args, **kwargs)

    return wrapper


@instructor_required
def cohort_list(request):
    form = CohortForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            cohort = create_cohort(owner=request.user, name=form.cleaned_data["name"])
        except IntegrityError:
            # The same name submitted twice at once (a double click): the first one won.
            form.add_error("name", "You already have a cohort with this name. Choose another name.")
        else:
            return redirect(cohort)
    return render(
        request, "instructor/cohort_list.html", {"cohorts": cohorts_for(request.user), "form": form}
    )


@instructor_required
def cohort_dashboard(request, cohort_id):
    cohort = get_cohort_for(request.user, cohort_id)
    grid = cohort_grid(cohort)
    sort_form = SortForm(request.GET, topics=grid.topics)
    sort = sort_form.chosen_sort()
    sort_rows(grid, sort)
    headings = [("learner", "Learner"), *((topic.slug, topic.title) for topic in grid.topics)]
    columns = sort_links(sort, [*headings, ("lab", "Lab predictions"), ("last_active", "Last active")])
    days = charts.strong_pairs_by_day(cohort)
    context = {
        "cohort": cohort,
        "grid": grid,
        "sort": sort,
        "sort_form": sort_form,
        "columns": columns,
        "join_url": request.build_absolute_uri(cohort.get_join_url()),
        # The learners' links, built once rather than reversed for each of hundreds of rows.
        "learner_base": reverse("instructor:learner_detail", args=[cohort.pk, 0]).removesuffix("0/"),
        "inactive_days": INACTIVE_AFTER.days,
        "mastery_levels": list(Mastery),
        "histogram": charts.histogram(charts.score_counts(cohort)),
        "mastery_chart": charts.mastery_chart(days, pairs=len(grid.rows) * len(grid.topics)),
        "challenges": challenge_progress(cohort),
    }
    return render(request, "instructor/cohort_dashboard.html", context)


def sort_links(sort: str, keys: list[tuple[str, str]]) -> list[dict]:
    """The grid's column headings in order: the `?sort=` link of each (a second click on the
    current column reverses it) and its aria-sort."""
    columns = []
    for key, label in keys:
        current = sort.removeprefix("-") == key
        descending = sort.startswith("-")
        columns.append(
            {
                "key": key,
                "label": label,
                "href": f"?sort={'-' if current and not descending else ''}{key}",
                "aria_sort": ("descending" if descending else "ascending") if current else "none",
            }
        )
    return columns


@instructor_required
def learner_detail(request, cohort_id, user_id):
    cohort = get_cohort_for(request.user, cohort_id)
    membership = get_member_for(cohort, user_id)
    learner = membership.learner
    attempts = learner_attempts(learner)
    runs = learner_lab_runs(learner)
    context = {
        "cohort": cohort,
        "membership": membership,
        "learner": learner,
        "topics": topics_with_progress(learner),
        "attempts": attempts,
        "retention": flashcard_retention(learner),
        "runs": runs,
        "timeline": activity_timeline(learner, attempts=attempts, runs=runs),
        "misconceptions": learner_misconceptions(learner),
    }
    return render(request, "instructor/learner_detail.html", context)


@instructor_required
def item_analysis_page(request, cohort_id):
    cohort = get_cohort_for(request.user, cohort_id)
    items = item_analysis(cohort)
    context = {
        "cohort": cohort,
        "items": items,
        "flagged": [item for item in items if item.flags],
        "answered": sum(1 for item in items if item.responses),
        "facility_low": FACILITY_LOW,
        "facility_high": FACILITY_HIGH,
        "discrimination_low": DISCRIMINATION_LOW,
        "confident_wrong_high": CONFIDENT_WRONG_HIGH,
        "flag_min_responses": FLAG_MIN_RESPONSES,
        "answer_time_note": ANSWER_TIME_NOTE,
    }
    return render(request, "instructor/item_analysis.html", context)


@instructor_required
def misconception_map_page(request, cohort_id):
    cohort = get_cohort_for(request.user, cohort_id)
    sort_form = MisconceptionSortForm(request.GET)
    sort = sort_form.chosen_sort()
    context = {
        "cohort": cohort,
        "map": misconception_map(cohort, sort=sort),
        "items_url": reverse("instructor:item_analysis", args=[cohort.pk]),
        "sort_form": sort_form,
        "columns": [
            {"href": f"?sort={key}", "label": label, "is_current": key == sort}
            for key, label in MAP_SORTS.items()
        ],
    }
    return render(request, "instructor/misconception_map.html", context)


@instructor_required
def misconception_holders(request, cohort_id, slug):
    cohort = get_cohort_for(request.user, cohort_id)
    misconception = get_misconception(slug)
    found = misconception_map(cohort, misconception=misconception)
    context = {
        "cohort": cohort,
        "misconception": misconception,
        "row": found.rows[0] if found.rows else None,
        "holders": found.holders(found.rows[0]) if found.rows else [],
        "learners": found.learners,
        "learner_base": reverse("instructor:learner_detail", args=[cohort.pk, 0]).removesuffix("0/"),
    }
    return render(request, "instructor/misconception_holders.html", context)


def csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@instructor_required
def grades_csv(request, cohort_id):
    cohort = get_cohort_for(request.user, cohort_id)
    out = io.StringIO()
    write_grades(cohort_grid(cohort), out)
    return csv_response(out.getvalue(), f"cohort-{cohort.pk}-grades-{timezone.now():%Y-%m-%d}.csv")


@instructor_required
def items_csv(request, cohort_id):
    cohort = get_cohort_for(request.user, cohort_id)
    out = io.StringIO()
    write_items(item_analysis(cohort), out)
    return csv_response(out.getvalue(), f"cohort-{cohort.pk}-items-{timezone.now():%Y-%m-%d}.csv")


@instructor_required
def misconceptions_csv(request, cohort_id):
    cohort = get_cohort_for(request.user, cohort_id)
    out = io.StringIO()
    write_misconceptions(misconception_map(cohort), out)
    return csv_response(out.getvalue(), f"cohort-{cohort.pk}-misconceptions-{timezone.now():%Y-%m-%d}.csv")


# --- Learners joining -------------------------------------------------------------------------


@login_required
def join_code(request):
    """A form to type a join code, for a learner who was given the code rather than the link."""
    form = JoinCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return redirect("instructor:join", code=form.cleaned_data["code"])
    return render(request, "instructor/join_code.html", {"form": form})


@login_required
def join(request, code):
    """GET: which cohort the link is for, and a Join button; POST: join it (twice is harmless)."""
    cohort = get_cohort_by_code(code)
    if request.method == "POST":
        join_cohort(cohort, learner=request.user)
        return redirect("instructor:join", code=cohort.join_code)
    context = {"cohort": cohort, "is_member": is_member_of(cohort, request.user)}
    return render(request, "instructor/join.html", context)
