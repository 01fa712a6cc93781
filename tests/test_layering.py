"""The apps depend one way (STYLE.md, "Apps depend one way"): each app imports only apps on a
lower floor. Read from the source with `ast`, imports inside functions included, so a late
`import` to dodge a cycle still counts."""

import ast
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent

# The floor is the course; the middle stands on it; the roof reads them all. The instructor
# reports sit above the learner's dashboard and may read it (the same mastery rule).
FLOORS = {
    "learn": (0, "the course: topics, claims, the curriculum pipeline, flashcards, accounts"),
    "quizzes": (1, "questions, tests, explain prompts"),
    "live_lab": (1, "the lab's experiments and runs"),
    "dashboard": (2, "home page path, topic page, dashboard, misconception pages"),
    "instructor": (3, "the instructor's reports"),
}


def imported_modules(tree: ast.AST, package: str):
    """(line, dotted module) for every import in the tree, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module
            yield node.lineno, module


def wrong_imports() -> list[str]:
    problems = []
    for app, (floor, _) in FLOORS.items():
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            package = ".".join(relative.with_suffix("").parts[:-1])
            for line, module in imported_modules(ast.parse(path.read_text(), str(path)), package):
                target = module.split(".")[0]
                if target == app or target not in FLOORS:
                    continue
                target_floor = FLOORS[target][0]
                if target_floor >= floor:
                    where = "beside" if target_floor == floor else "above"
                    problems.append(f"{relative}:{line}: {app} imports {module}, an app {where} it")
    return problems


def test_every_project_app_has_a_floor():
    ours = {config.name for config in apps.get_app_configs() if (ROOT / config.name).is_dir()}
    assert ours == set(FLOORS), "place each app of INSTALLED_APPS in FLOORS"


def test_no_app_imports_an_app_above_or_beside_it():
    problems = wrong_imports()
    assert not problems, "\n".join(problems)


def test_the_check_finds_an_import_inside_a_function(tmp_path):
    tree = ast.parse("def f():\n    from live_lab.experiments import EXPERIMENTS\n")
    assert list(imported_modules(tree, "learn.curriculum")) == [(2, "live_lab.experiments")]
