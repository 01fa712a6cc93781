"""The curriculum items quizzes stores, written by `content sync`: questions with their options,
explain prompts with their concepts and wrong claims. The course's pipeline (learn/curriculum/)
parses and checks them, and calls `sync_questions_and_prompts` from its registry (apps.py)."""

from learn.curriculum.render import section_anchor
from learn.curriculum.sync import RowSync, SyncContext, group_by, link_cited_claims
from quizzes.models import ExplainPrompt, KeyConcept, Option, Question, WrongClaim

# The markdown fields `content sync` renders and stores (learn/curriculum/render.py).
MARKDOWN_FIELDS = [
    (Question, ["stem", "hint", "explanation", "solution", "common_mistakes"]),
    (Option, ["text"]),
    (ExplainPrompt, ["prompt", "hint", "model_answer"]),
]


def sync_questions_and_prompts(context: SyncContext) -> None:
    report, now, misconceptions = context.report, context.now, context.misconceptions
    questions = RowSync(report, "question", Question, "slug", now)
    prompts = RowSync(report, "explain prompt", ExplainPrompt, "slug", now)
    options_by_question = group_by(Option.objects.all(), "question_id")
    concepts_by_prompt = group_by(KeyConcept.objects.all(), "prompt_id")
    wrong_claims_by_prompt = group_by(WrongClaim.objects.all(), "prompt_id")
    for source in context.curriculum.topics:
        topic = context.topics[source.id]
        for position, item in enumerate(source.of_kind("question")):
            question = questions.put(
                item.id,
                topic=topic,
                position=position,
                source_path=source.path,
                source_line=item.line,
                difficulty=item.fields["difficulty"],
                stem=item.text,
                explanation=item.sections["Explanation"],
                hint=item.sections["Hint"],
                solution=item.sections["Solution"],
                common_mistakes=item.sections["Common mistakes"],
                lab_experiment=item.fields.get("lab", ""),
            )
            options = RowSync(report, "option", Option, "key", now, options_by_question.get(question.pk, []))
            tags = {tag.key: misconceptions.seen[tag.id].pk for tag in item.misconceptions}
            for position_, option in enumerate(item.options):
                options.put(
                    option.key,
                    question=question,
                    text=option.text,
                    is_correct=option.is_correct,
                    misconception_id=tags.get(option.key),
                    position=position_,
                )
            options.archive_missing()
        for position, item in enumerate(source.of_kind("explain")):
            prompt = prompts.put(
                item.id,
                topic=topic,
                position=position,
                source_path=source.path,
                source_line=item.line,
                prompt=item.text,
                hint=item.sections["Hint"],
                model_answer=item.sections["Model answer"],
            )
            concepts = RowSync(
                report, "key concept", KeyConcept, "key", now, concepts_by_prompt.get(prompt.pk, [])
            )
            for position_, concept in enumerate(item.concepts):
                concepts.put(
                    concept.key,
                    prompt=prompt,
                    name=concept.name,
                    phrasings=concept.phrasings,
                    section_heading=concept.section,
                    section_anchor=section_anchor(concept.section),
                    position=position_,
                )
            concepts.archive_missing()
            wrong_claims = RowSync(
                report, "wrong claim", WrongClaim, "key", now, wrong_claims_by_prompt.get(prompt.pk, [])
            )
            concept_keys = {concept.name: concept.key for concept in item.concepts}
            for position_, wrong in enumerate(item.wrong_claims):
                wrong_claims.put(
                    wrong.key,
                    prompt=prompt,
                    name=wrong.name,
                    misconception_id=misconceptions.seen[wrong.misconception].pk,
                    contradicts_id=concepts.seen[concept_keys[wrong.contradicts]].pk,
                    phrasings=wrong.phrasings,
                    position=position_,
                )
            wrong_claims.archive_missing()
    for rows in (questions, prompts):
        rows.archive_missing()
    link_cited_claims(context.curriculum, context.claims, "questions", questions)
    link_cited_claims(context.curriculum, context.claims, "explain_prompts", prompts)
