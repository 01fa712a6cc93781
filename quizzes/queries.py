"""Reads the quiz views share, with the owner-scoped getters (outsiders get 404)."""

from django.db import connection
from django.db.models import OuterRef, Prefetch, Subquery, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from config.plain_sql import Columns
from learn.curriculum.kept import kept_for_content
from learn.curriculum.registry import lab_experiments
from learn.models import Topic
from learn.queries import active_topics, get_active_topic
from quizzes import explain
from quizzes.models import (
    Attempt,
    AttemptQuestion,
    ExplainAnswer,
    ExplainPrompt,
    HintRequest,
    KeyConcept,
    Option,
    PracticeAnswer,
    Question,
    WrongClaim,
)


def get_topic(slug: str) -> Topic:
    """An active topic (kept per content version: learn.queries.active_topics); 404 otherwise."""
    return get_active_topic(slug)


def active_options() -> Prefetch:
    return Prefetch("options", queryset=Option.active.all(), to_attr="active_options")


# --- Tests ------------------------------------------------------------------------------------


def get_attempt_for(user, attempt_id: int) -> Attempt:
    """The learner's own attempt with its topic and score; 404 for anyone else's."""
    queryset = Attempt.objects.filter(learner=user).select_related("topic", "score")
    return get_object_or_404(queryset, pk=attempt_id)


def get_attempt_to_answer(user, attempt_id: int) -> tuple[Attempt, list[AttemptQuestion]]:
    """The learner's own attempt with its topic, and its items (`with_questions`), in one
    statement (answers are half of a class's requests); 404 for anyone else's. An active topic
    is the one kept per content version (learn.queries.active_topics), not joined."""
    attempt, items = _with_attempt("i.attempt_id = %s AND a.learner_id = %s", [attempt_id, user.pk])
    if attempt is None:  # not the learner's (every attempt has questions: start_attempt)
        raise Http404("No such test.")
    topic = next((topic for topic in active_topics().values() if topic.pk == attempt.topic_id), None)
    if topic is not None:
        attempt.topic = topic  # an archived topic is read when asked for
    return attempt, items


def open_attempt_for(user, topic: Topic) -> tuple[Attempt | None, list[AttemptQuestion]]:
    """The learner's open attempt on `topic` (None if there is none) and its items
    (`with_questions`), in one statement."""
    attempt, items = _with_attempt(
        "a.learner_id = %s AND a.topic_id = %s AND a.status = %s",
        [user.pk, topic.pk, Attempt.Status.IN_PROGRESS.value],
    )
    if attempt is not None:
        attempt.topic = topic  # in hand: not joined again
    return attempt, items


ITEM_COLUMNS = Columns(AttemptQuestion, "i")
ATTEMPT_COLUMNS = Columns(Attempt, "a")


def _with_attempt(where: str, params: list) -> tuple[Attempt | None, list[AttemptQuestion]]:
    """The items of the one attempt `where` selects, with their attempt (joined, not read apart),
    as `with_questions` gives them. In SQL, not the ORM: compiling this queryset cost more CPU
    than running it, on half of a class's requests (config/plain_sql.py)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {ITEM_COLUMNS.sql()}, {ATTEMPT_COLUMNS.sql()}"
            " FROM quizzes_attemptquestion i JOIN quizzes_attempt a ON a.id = i.attempt_id"
            f" WHERE {where} ORDER BY i.position",
            params,
        )
        rows = cursor.fetchall()
    if not rows:
        return None, []
    attempt = ATTEMPT_COLUMNS.instance(rows[0], start=len(ITEM_COLUMNS))
    items = [ITEM_COLUMNS.instance(row) for row in rows]
    for item in items:
        item.attempt = attempt  # one instance, as attempt.items gives
    return attempt, with_questions(items)


def attempt_items(attempt: Attempt) -> list[AttemptQuestion]:
    """The attempt's questions in order, each with `question.active_options` and `chosen_options`.
    Two statements: the questions and their options are the ones kept per content version."""
    items = [with_options(item) for item in with_questions(list(attempt.items.order_by("position")))]
    prefetch_related_objects(items, Prefetch("chosen", to_attr="chosen_options"))
    return items


def with_questions(items: list[AttemptQuestion]) -> list[AttemptQuestion]:
    """The attempt's items, for the test screen: each with its question but not its options or
    answer. The screen shows one question of ten, and `attempt_screen` reads those of that one
    only: answers are half a class's requests. The questions are the ones kept per content
    version (`questions_by_id`), shared by the process's requests: never changed here."""
    questions = questions_by_id()
    missing = [item.question_id for item in items if item.question_id not in questions]
    if missing:  # made since the last sync (by the tests' factories)
        questions = {**questions, **Question.objects.in_bulk(missing)}
    for item in items:
        item.question = questions[item.question_id]
    return items


def questions_by_id() -> dict[int, Question]:
    """Every question, archived ones too (an open attempt may hold one), by id. Kept per content
    version (learn/curriculum/kept.py)."""
    return kept_for_content("quizzes.questions_by_id", Question.objects.in_bulk)


def with_options(item: AttemptQuestion) -> AttemptQuestion:
    """The item, its question's `active_options` read unless in hand."""
    if not hasattr(item.question, "active_options"):
        item.question.active_options = question_options(item.question_id)
    return item


def question_options(question_id: int) -> list[Option]:
    """A question's active options. Kept per content version (learn/curriculum/kept.py): shared
    by the process's requests, never changed."""
    return kept_for_content(
        ("quizzes.question_options", question_id), lambda: list(Option.active.filter(question=question_id))
    )


def item_at(items: list[AttemptQuestion], position: int) -> AttemptQuestion:
    """The item at `position` among an attempt's `attempt_items`; 404 when there is none."""
    for item in items:
        if item.position == position:
            return item
    raise Http404("No such question in this test.")


def last_submitted_attempt_for(user, topic: Topic) -> Attempt | None:
    return (
        Attempt.objects.filter(learner=user, topic=topic, status=Attempt.Status.SUBMITTED)
        .order_by("-submitted_at")
        .first()
    )


def topic_has_questions(topic: Topic) -> bool:
    return Question.active.filter(topic=topic).exists()


def past_attempts_for(user, topic: Topic) -> list[Attempt]:
    return list(
        Attempt.objects.filter(learner=user, topic=topic, status=Attempt.Status.SUBMITTED)
        .select_related("score")
        .order_by("-submitted_at")
    )


def attempt_screen(items: list[AttemptQuestion], requested: int | None, *, confirming: bool = False) -> dict:
    """What the test page shows: the requested question if it exists, else the first unanswered.
    `items` are `with_questions`' (or `attempt_items`); what the screen shows of them is read here.

    No current item once every question is answered and none was requested: the review screen;
    none either when `confirming`: the summary asked before submitting.
    """
    by_position = {item.position: item for item in items}
    if confirming:
        requested = None
    elif requested not in by_position:
        requested = next((item.position for item in items if not item.is_answered), None)
    item = by_position.get(requested)
    if item is not None:
        with_options(item)
    # The answers of the items that lack them: the one shown, or every item on the review screen.
    # An unanswered item has none to read (record_answer writes an answer and its time together):
    # "Save and next" goes to an unanswered question, half of a test's requests.
    lacking = [each for each in ([item] if item else items) if not hasattr(each, "chosen_options")]
    for each in lacking:
        if not each.is_answered:
            each.chosen_options = []
    prefetch_related_objects(
        [each for each in lacking if each.is_answered], Prefetch("chosen", to_attr="chosen_options")
    )
    return {
        "items": items,
        "item": item,
        "answered_count": sum(1 for each in items if each.is_answered),
        "unanswered_count": sum(1 for each in items if not each.is_answered),
        "previous_position": requested - 1 if item and requested - 1 in by_position else None,
        "next_position": requested + 1 if item and requested + 1 in by_position else None,
        "chosen_keys": {option.key for option in item.chosen_options} if item else set(),
        "chosen_certainty": item.certainty if item else "",
        "confirming": confirming,
        "unanswered_items": [each for each in items if not each.is_answered],
        # Answers given before certainty-based marking was asked; they count in the plain score only.
        "uncertain_items": [each for each in items if each.is_answered and not each.certainty],
    }


# --- Practice ---------------------------------------------------------------------------------


def practice_questions(user, topic: Topic) -> list[Question]:
    """Active questions of the topic, each with `active_options` and `last_answered_at` (this learner)."""
    last_answer = (
        PracticeAnswer.objects.filter(learner=user, question=OuterRef("pk"))
        .order_by("-answered_at")
        .values("answered_at")[:1]
    )
    return list(
        Question.active.filter(topic=topic)
        .annotate(last_answered_at=Subquery(last_answer))
        .prefetch_related(active_options())
        .order_by("position")
    )


def pick_practice_question(questions: list[Question], slug: str | None) -> Question | None:
    """The requested question, else the first never practised, else the least recently practised."""
    for question in questions:
        if question.slug == slug:
            return question
    if not questions:
        return None
    never = [question for question in questions if question.last_answered_at is None]
    if never:
        return never[0]
    return min(questions, key=lambda question: question.last_answered_at)


def missed_question_slugs(user, attempt_id: int, *, topic: Topic) -> list[str]:
    """The questions the learner's submitted attempt on `topic` got wrong (unanswered ones too),
    in the test's order; 404 for another learner's attempt, an open one or another topic's."""
    attempt = get_object_or_404(
        Attempt.objects.filter(learner=user, topic=topic, status=Attempt.Status.SUBMITTED), pk=attempt_id
    )
    return list(
        attempt.items.filter(is_correct=False).order_by("position").values_list("question__slug", flat=True)
    )


def next_missed_question(
    questions: list[Question], current: Question | None, missed: list[str]
) -> Question | None:
    """The first missed question after `current` (after none: the first) among `questions`, the
    active ones; None after the last."""
    active = {question.slug: question for question in questions}
    later = missed[missed.index(current.slug) + 1 :] if current and current.slug in missed else missed
    return next((active[slug] for slug in later if slug in active), None)


def next_practice_question(questions: list[Question], current: Question) -> Question:
    index = next(i for i, question in enumerate(questions) if question.pk == current.pk)
    return questions[(index + 1) % len(questions)]


def get_practice_answer_for(user, answer_id: int, *, question: Question) -> PracticeAnswer:
    """The learner's own answer to `question`, with its options; 404 for anyone else's."""
    queryset = PracticeAnswer.objects.filter(learner=user, question=question).prefetch_related("options")
    return get_object_or_404(queryset, pk=answer_id)


def has_open_hint(user, question: Question) -> bool:
    """True when the learner asked for the hint since their last answer to this question."""
    hints = HintRequest.objects.filter(learner=user, question=question)
    if question.last_answered_at is not None:
        hints = hints.filter(requested_at__gt=question.last_answered_at)
    return hints.exists()


def lab_experiment_url(question: Question) -> str | None:
    """The live lab's page for the question's experiment, or None while the lab lacks it."""
    if not question.lab_experiment or question.lab_experiment not in lab_experiments():
        return None
    return reverse("live_lab:experiment", args=[question.lab_experiment])


def misconception_lab_url(misconception) -> str | None:
    """The live lab's page of the experiment that shows a misconception wrong, if the lab has it."""
    if not misconception.lab_slug or misconception.lab_slug not in lab_experiments():
        return None
    return reverse("live_lab:experiment", args=[misconception.lab_slug])


# --- Explain ----------------------------------------------------------------------------------


def explain_prompts(topic: Topic) -> list[ExplainPrompt]:
    """The topic's active prompts with what scoring needs: active concepts and wrong claims."""
    return list(
        ExplainPrompt.active.filter(topic=topic)
        .prefetch_related(
            Prefetch("concepts", queryset=KeyConcept.active.all(), to_attr="active_concepts"),
            Prefetch(
                "wrong_claims",
                queryset=WrongClaim.active.select_related("contradicts"),
                to_attr="active_wrong_claims",
            ),
        )
        .order_by("position")
    )


def pick_prompt(prompts: list[ExplainPrompt], slug: str | None) -> ExplainPrompt | None:
    return next((prompt for prompt in prompts if prompt.slug == slug), prompts[0] if prompts else None)


def _explanations_with_feedback(user):
    """The learner's explanations with what their feedback shows: every concept, every wrong
    claim with its misconception (archived ones too: an old answer may name them), the marks."""
    return (
        ExplainAnswer.objects.filter(learner=user)
        .select_related("prompt__topic")
        .prefetch_related(
            Prefetch("prompt__concepts", queryset=KeyConcept.objects.all(), to_attr="all_concepts"),
            Prefetch(
                "prompt__wrong_claims",
                queryset=WrongClaim.objects.select_related("misconception", "contradicts"),
                to_attr="all_wrong_claims",
            ),
            "marks",
        )
    )


def get_explain_answer_for(user, answer_id: int) -> ExplainAnswer:
    """The learner's own explanation with its feedback's rows; 404 for anyone else's."""
    return get_object_or_404(_explanations_with_feedback(user), pk=answer_id)


def last_explanation_for(user, prompt: ExplainPrompt) -> ExplainAnswer | None:
    return _explanations_with_feedback(user).filter(prompt=prompt).first()


def explanation_report(answer: ExplainAnswer) -> dict:
    """The feedback on one explanation: a row per concept it was scored on (found, contradicted
    by a wrong claim it made, marked by the learner, or missed), the wrong claims it made with
    the sentence that makes each, and how many concepts the learner marked."""
    marked = {mark.concept_id for mark in answer.marks.all()}
    found = set(answer.found_keys)
    wrong_claims = [wrong for wrong in answer.prompt.all_wrong_claims if wrong.key in answer.wrong_claim_keys]
    contradicted = {wrong.contradicts_id for wrong in wrong_claims}
    rows = [
        {
            "concept": concept,
            "is_found": concept.key in found,
            "is_contradicted": concept.pk in contradicted,
            "is_marked": concept.pk in marked,
        }
        for concept in answer.prompt.all_concepts
        if concept.archived_at is None or concept.key in found
    ]
    wrong_rows = [
        {
            "wrong_claim": wrong,
            "sentence": explain.asserting_sentence(answer.text, wrong.phrasings),
            "lab_url": misconception_lab_url(wrong.misconception),
        }
        for wrong in wrong_claims
    ]
    return {
        "rows": rows,
        "wrong_claims": wrong_rows,
        "marked_count": sum(1 for row in rows if row["is_marked"]),
    }
