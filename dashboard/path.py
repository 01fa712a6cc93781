"""The learning path through each topic and where a learner stands on it.

Every topic is studied in the same six steps: read the cheat sheet, then flashcards, practice
questions, explain in your own words, the test, and the lab. A step is done when:

- read: any later step has begun (reading is not recorded; starting the cards means it was read);
- cards: every active card was rated at least once;
- practice: PRACTICE_ENOUGH distinct questions answered (or all of them, when fewer);
- explain: every prompt answered at least once;
- test: a submitted test scored "strong" (docs/mastery.md);
- lab: a finished run of every experiment the topic's questions name (`lab:`); for a topic whose
  questions name none, any finished run.

The home page's "Continue" goes to the first step not done of the first topic not done.
`learning_paths` reads with a fixed number of queries, whatever the number of topics.
"""

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from django.db.models import Count
from django.urls import reverse

from learn.curriculum.kept import kept_for_content
from learn.models import CardReviewState, Flashcard, Topic
from live_lab.models import LabRun
from quizzes.models import AttemptScore, ExplainAnswer, ExplainPrompt, PracticeAnswer, Question

PRACTICE_ENOUGH = 10


@dataclass
class Step:
    key: str
    label: str
    url: str
    status: str  # what the learner has done, in a few words
    is_done: bool
    has_begun: bool


@dataclass
class TopicPath:
    topic: Topic
    steps: list[Step]

    @property
    def next_step(self) -> Step | None:
        return next((step for step in self.steps if not step.is_done), None)

    @property
    def done_count(self) -> int:
        return sum(step.is_done for step in self.steps)

    @property
    def is_complete(self) -> bool:
        return self.next_step is None


def per_topic(rows) -> Counter:
    return Counter(dict(rows))


@dataclass
class CourseCounts:
    """Per topic id: active cards, questions and prompts, and the experiments its questions
    name (in question order). The same for every learner until the next `content sync`."""

    cards: Counter
    questions: Counter
    prompts: Counter
    experiments: dict[int, list[str]]


def course_counts() -> CourseCounts:
    """Four queries, or none: kept per content version (learn/curriculum/kept.py)."""
    return kept_for_content("dashboard.path.course_counts", read_course_counts)


def read_course_counts() -> CourseCounts:
    active = {"topic__archived_at__isnull": True}
    cards = per_topic(
        Flashcard.active.filter(**active).values_list("topic").annotate(n=Count("pk")).order_by()
    )
    questions = per_topic(Question.active.values_list("topic").annotate(n=Count("pk")).order_by())
    prompts = per_topic(ExplainPrompt.active.values_list("topic").annotate(n=Count("pk")).order_by())
    experiments: dict[int, list[str]] = {}
    for topic_id, experiment in (
        Question.active.exclude(lab_experiment="").values_list("topic", "lab_experiment").order_by("position")
    ):
        if experiment not in experiments.setdefault(topic_id, []):
            experiments[topic_id].append(experiment)
    return CourseCounts(cards, questions, prompts, experiments)


def learning_paths(user, topics: list[Topic]) -> list[TopicPath]:
    """Each topic's six steps for `user` (a visitor has begun none)."""
    course = course_counts()
    cards, questions, prompts, experiments = (
        course.cards,
        course.questions,
        course.prompts,
        course.experiments,
    )

    rated = answered = explained = Counter()
    best: dict[int, AttemptScore] = {}
    ran: set[str] = set()
    if user.is_authenticated:
        rated = per_topic(
            CardReviewState.objects.filter(learner=user, flashcard__archived_at__isnull=True)
            .values_list("flashcard__topic")
            .annotate(n=Count("pk"))
            .order_by()
        )
        answered = per_topic(
            PracticeAnswer.objects.filter(learner=user, question__archived_at__isnull=True)
            .values_list("question__topic")
            .annotate(n=Count("question", distinct=True))
            .order_by()
        )
        explained = per_topic(
            ExplainAnswer.objects.filter(learner=user, prompt__archived_at__isnull=True)
            .values_list("prompt__topic")
            .annotate(n=Count("prompt", distinct=True))
            .order_by()
        )
        for score in AttemptScore.objects.filter(attempt__learner=user).select_related("attempt"):
            held = best.get(score.attempt.topic_id)
            if held is None or score.correct * held.total > held.correct * score.total:
                best[score.attempt.topic_id] = score
        finished = LabRun.objects.filter(owner=user, status=LabRun.Status.FINISHED)
        ran = set(finished.values_list("experiment", flat=True))

    paths = []
    for topic in topics:
        slug, pk = topic.slug, topic.pk
        practice_goal = min(PRACTICE_ENOUGH, questions[pk])
        score = best.get(pk)
        linked = experiments.get(pk, [])
        not_run = [experiment for experiment in linked if experiment not in ran]
        lab_url = (
            url_of("live_lab:experiment", (not_run or linked)[0]) if linked else url_of("live_lab:catalog")
        )
        steps = [
            Step(
                "cards",
                "Flashcards",
                url_of("learn:cards", slug),
                f"{rated[pk]} of {cards[pk]} rated",
                is_done=rated[pk] >= cards[pk],
                has_begun=rated[pk] > 0,
            ),
            Step(
                "practice",
                "Practice questions",
                url_of("quizzes:practice", slug),
                f"{answered[pk]} of {practice_goal} answered",
                is_done=answered[pk] >= practice_goal,
                has_begun=answered[pk] > 0,
            ),
            Step(
                "explain",
                "Explain in your own words",
                url_of("quizzes:explain", slug),
                f"{explained[pk]} of {prompts[pk]} explained",
                is_done=explained[pk] >= prompts[pk],
                has_begun=explained[pk] > 0,
            ),
            Step(
                "test",
                "The test",
                url_of("quizzes:test", slug),
                f"best {score.correct}/{score.total}" if score else "not taken",
                is_done=score is not None and score.verdict == AttemptScore.Verdict.STRONG,
                has_begun=score is not None,
            ),
            Step(
                "lab",
                "The live lab",
                lab_url,
                f"{len(linked) - len(not_run)} of {len(linked)} experiments run"
                if linked
                else "any experiment",
                is_done=not not_run if linked else bool(ran),
                has_begun=len(not_run) < len(linked) if linked else bool(ran),
            ),
        ]
        has_begun = any(step.has_begun for step in steps)
        read = Step(
            "read",
            "Read the cheat sheet",
            f"{url_of('dashboard:topic_detail', slug)}#cheat-sheet",
            "read" if has_begun else "start here",
            is_done=has_begun,
            has_begun=has_begun,
        )
        paths.append(TopicPath(topic, [read, *steps]))
    return paths


@lru_cache(maxsize=1024)
def url_of(name: str, *args: str) -> str:
    """`reverse(name, args=args)`, once per process: the URLconf does not change while it runs,
    and the arguments are the content's slugs and experiment ids. Six steps of nine topics were 54
    reversals on every home page and dashboard (about 2 ms of CPU)."""
    return reverse(name, args=args)


def continue_step(paths: list[TopicPath]) -> tuple[TopicPath, Step] | None:
    """Where "Continue" goes: the first step not done of the first topic not done."""
    for path in paths:
        if path.next_step is not None:
            return path, path.next_step
    return None
