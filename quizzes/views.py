from contextlib import suppress

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST
from django_htmx.http import push_url, reswap

from config.htmx import page_or_partial
from quizzes.certainty import calibration, mark_of, score_test, tally, with_marks
from quizzes.forms import (
    AnswerForm,
    ChoiceForm,
    ExplainForm,
    ExplainScreenForm,
    MarkCoveredForm,
    MissedForm,
    PracticeScreenForm,
    QuestionPickForm,
    TestScreenForm,
)
from quizzes.misconceptions import attach_feedback, feedback_for_options
from quizzes.queries import (
    attempt_items,
    attempt_screen,
    explain_prompts,
    explanation_report,
    get_attempt_for,
    get_attempt_to_answer,
    get_explain_answer_for,
    get_practice_answer_for,
    get_topic,
    has_open_hint,
    item_at,
    lab_experiment_url,
    last_explanation_for,
    last_submitted_attempt_for,
    missed_question_slugs,
    next_missed_question,
    next_practice_question,
    open_attempt_for,
    past_attempts_for,
    pick_practice_question,
    pick_prompt,
    practice_questions,
    topic_has_questions,
    with_options,
)
from quizzes.services import (
    AttemptClosed,
    NoQuestions,
    breakdown,
    mark_concept_covered,
    record_answer,
    record_explanation,
    record_practice_answer,
    request_hint,
    start_attempt,
    submit_attempt,
)

# --- Test this pattern ------------------------------------------------------------------------


@login_required
def test(request, slug):
    """GET: the open attempt's current question (or the start button); POST: start or resume."""
    topic = get_topic(slug)
    if request.method == "POST":
        with suppress(NoQuestions):  # the page then says the topic has no questions yet
            start_attempt(topic, learner=request.user)
        return redirect("quizzes:test", slug=topic.slug)
    screen = TestScreenForm(request.GET)
    attempt, items = open_attempt_for(request.user, topic)
    if attempt is None and screen.names_a_screen_of_an_attempt():
        # Back after submitting (or an old link): that question's attempt is submitted now,
        # so its result is what this URL has to show, not a start page.
        submitted = last_submitted_attempt_for(request.user, topic)
        if submitted:
            return redirect(submitted)
    context = {"topic": topic, "attempt": attempt, "past_attempts": past_attempts_for(request.user, topic)}
    if attempt:
        context |= attempt_screen(items, screen.position(), confirming=screen.is_confirming())
    else:
        context["topic_has_questions"] = topic_has_questions(topic)
    response = render(request, "quizzes/test.html", context)
    if attempt:
        # An answerable page must never come back from the browser's cache once submitted (Back).
        add_never_cache_headers(response)
    return response


@login_required
@require_POST
def answer(request, attempt_id, position):
    # Read once: the answer is recorded on the item in hand, and the page shows these items.
    attempt, items = get_attempt_to_answer(request.user, attempt_id)
    item = with_options(item_at(items, position))
    form = AnswerForm(request.POST, question=item.question, attempt=attempt)
    if form.is_valid():
        try:
            record_answer(
                item, options=form.cleaned_data["options"], certainty=form.cleaned_data["certainty"]
            )
        except AttemptClosed:
            # Submitted between the form's check and the write (another tab).
            attempt.refresh_from_db()
            form = AnswerForm(request.POST, question=item.question, attempt=attempt)
            form.is_valid()
        else:
            item.chosen_options = form.cleaned_data["options"]  # as stored, for the page
            context = {"topic": attempt.topic, "attempt": attempt}
            if request.htmx and "next" not in request.POST:
                # An autosave: the question stays on the page as the learner left it, so the
                # reply is only what the answer changed (the progress, the status, the count of
                # unanswered questions), swapped in out of band, without rendering the question.
                context |= attempt_screen(items, position)
                response = render(request, "quizzes/test.html#answer-saved", context)
                return reswap(response, "none")
            target = position if "next" not in request.POST else next_unanswered(items, after=position)
            test_url = reverse("quizzes:test", args=[attempt.topic.slug])
            target_url = f"{test_url}?q={target}" if target else test_url
            if not request.htmx:
                return redirect(target_url)
            context |= attempt_screen(items, target)
            response = render(request, page_or_partial(request, "quizzes/test.html", "test-screen"), context)
            return push_url(response, target_url)
    context = {"topic": attempt.topic, "attempt": attempt, **attempt_screen(items, position)}
    context |= {"form": form, "chosen_keys": form.chosen_keys(), "chosen_certainty": form.chosen_certainty()}
    return render(request, page_or_partial(request, "quizzes/test.html", "test-screen"), context)


def next_unanswered(items, *, after: int) -> int | None:
    """The first unanswered position after `after`, else the first unanswered, else None (review)."""
    unanswered = [item.position for item in items if not item.is_answered]
    return next((p for p in unanswered if p > after), unanswered[0] if unanswered else None)


@login_required
@require_POST
def submit(request, attempt_id):
    attempt = get_attempt_for(request.user, attempt_id)
    submit_attempt(attempt)
    return redirect(attempt)


@login_required
def attempt_detail(request, attempt_id):
    attempt = get_attempt_for(request.user, attempt_id)
    if not attempt.is_submitted:
        return redirect("quizzes:test", slug=attempt.topic.slug)
    items = with_marks(attempt_items(attempt))
    attach_feedback(items)
    context = {
        "attempt": attempt,
        "topic": attempt.topic,
        "items": items,
        "missed_count": sum(1 for item in items if not item.is_correct),
        "groups": breakdown(items),
        "certainty_score": score_test(items),
        "calibration": calibration(tally((item.is_correct, item.certainty) for item in items)),
    }
    return render(request, "quizzes/attempt_detail.html", context)


# --- Practice ---------------------------------------------------------------------------------


@login_required
def practice(request, slug):
    """One question at a time. GET shows it (with the feedback of `?answered=`); POST grades it."""
    topic = get_topic(slug)
    questions = practice_questions(request.user, topic)
    # `missed=<attempt id>`: the questions that test got wrong, one after the other.
    missed_form = MissedForm(request.POST if request.method == "POST" else request.GET)
    missed_id = missed_form.cleaned_data.get("missed") if missed_form.is_valid() else None
    missed = missed_question_slugs(request.user, missed_id, topic=topic) if missed_id else []
    feedback = None
    if request.method == "POST":
        question = picked_question(request, questions)
        form = ChoiceForm(request.POST, question=question)
        if form.is_valid():
            feedback = record_practice_answer(
                question,
                learner=request.user,
                options=form.cleaned_data["options"],
                certainty=form.cleaned_data["certainty"],
            )
            if not request.htmx:
                url = reverse("quizzes:practice", args=[topic.slug])
                also_missed = f"&missed={missed_id}" if missed else ""
                return redirect(f"{url}?q={question.slug}&answered={feedback.pk}{also_missed}")
    else:
        screen = PracticeScreenForm(request.GET)
        wanted = screen.cleaned_data if screen.is_valid() else {}
        first_missed = next_missed_question(questions, None, missed)
        question = pick_practice_question(questions, wanted.get("q") or (first_missed and first_missed.slug))
        form = None
        if question and wanted.get("answered"):
            feedback = get_practice_answer_for(request.user, wanted["answered"], question=question)
    context = {
        "topic": topic,
        "questions": questions,
        "question": question,
        "form": form,
        "feedback": feedback,
        "missed_id": missed_id if missed else None,
        "missed_count": len(missed),
    }
    if question:
        context |= {
            "number": questions.index(question) + 1,
            "chosen_keys": {option.key for option in feedback.options.all()} if feedback else form_keys(form),
            "chosen_label": ", ".join(sorted(option.key for option in feedback.options.all()))
            if feedback
            else "",
            "chosen_certainty": form.chosen_certainty() if form and not feedback else "",
            "feedback_mark": mark_of(feedback),
            "hint_shown": feedback is None and has_open_hint(request.user, question),
            "lab_url": lab_experiment_url(question),
            "next_question": next_missed_question(questions, question, missed)
            if missed
            else next_practice_question(questions, question),
            "missed_number": missed.index(question.slug) + 1 if question.slug in missed else None,
            # The beliefs a wrong answer showed, named in the feedback.
            "misconceptions": feedback_for_options(feedback.options.all())
            if feedback and not feedback.is_correct
            else [],
        }
    return render(request, page_or_partial(request, "quizzes/practice.html", "practice-card"), context)


def form_keys(form) -> set[str]:
    return form.chosen_keys() if form else set()


def picked_question(request, questions):
    pick = QuestionPickForm(request.POST, questions=questions)
    if not pick.is_valid():
        raise Http404("No such practice question in this topic.")
    return pick.cleaned_data["question"]


@login_required
@require_POST
def practice_hint(request, slug):
    topic = get_topic(slug)
    question = picked_question(request, practice_questions(request.user, topic))
    request_hint(question, learner=request.user)
    if not request.htmx:
        return redirect(f"{reverse('quizzes:practice', args=[topic.slug])}?q={question.slug}")
    context = {"topic": topic, "question": question, "hint_shown": True}
    return render(request, page_or_partial(request, "quizzes/practice.html", "hint"), context)


# --- Explain ----------------------------------------------------------------------------------


@login_required
def explain(request, slug):
    topic = get_topic(slug)
    prompts = explain_prompts(topic)
    screen = ExplainScreenForm(request.GET)
    prompt = pick_prompt(prompts, screen.cleaned_data.get("p") if screen.is_valid() else None)
    if prompt is None:
        return render(request, "quizzes/explain.html", {"topic": topic, "prompts": prompts})
    explanation = None
    if request.method == "POST":
        form = ExplainForm(request.POST)
        if form.is_valid():
            explanation = record_explanation(
                prompt,
                learner=request.user,
                text=form.cleaned_data["text"],
                concepts=prompt.active_concepts,
                wrong_claims=prompt.active_wrong_claims,
            )
            if not request.htmx:
                return redirect(f"{reverse('quizzes:explain', args=[topic.slug])}?p={prompt.slug}")
            explanation = get_explain_answer_for(request.user, explanation.pk)
    else:
        explanation = last_explanation_for(request.user, prompt)
        form = ExplainForm(initial={"text": explanation.text if explanation else ""})
    context = {
        "topic": topic,
        "prompts": prompts,
        "prompt": prompt,
        "form": form,
        "explanation": explanation,
        "report": explanation_report(explanation) if explanation else None,
    }
    return render(request, page_or_partial(request, "quizzes/explain.html", "explain-card"), context)


@login_required
@require_POST
def explain_mark(request, answer_id):
    explanation = get_explain_answer_for(request.user, answer_id)
    form = MarkCoveredForm(request.POST, answer=explanation)
    if form.is_valid():
        mark_concept_covered(explanation, concept=form.cleaned_data["concept"])
        if not request.htmx:
            topic = explanation.prompt.topic
            return redirect(f"{reverse('quizzes:explain', args=[topic.slug])}?p={explanation.prompt.slug}")
        explanation = get_explain_answer_for(request.user, answer_id)
    topic = explanation.prompt.topic
    context = {
        "topic": topic,
        "prompts": explain_prompts(topic),
        "prompt": explanation.prompt,
        "form": ExplainForm(initial={"text": explanation.text}),
        "explanation": explanation,
        "report": explanation_report(explanation),
        "mark_form": form,
    }
    return render(request, page_or_partial(request, "quizzes/explain.html", "explain-result"), context)
