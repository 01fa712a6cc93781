from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "quizzes"

    def ready(self):
        # The course's content pipeline parses, checks and syncs quizzes' items without
        # importing quizzes: it calls what is registered here (learn/curriculum/registry.py).
        from learn.curriculum import registry
        from quizzes.curriculum import MARKDOWN_FIELDS, sync_questions_and_prompts
        from quizzes.explain import parse_claim

        registry.register_claim_syntax(parse_claim)
        registry.register_item_sync(sync_questions_and_prompts)
        for model, field_names in MARKDOWN_FIELDS:
            registry.register_texts(model, field_names)
