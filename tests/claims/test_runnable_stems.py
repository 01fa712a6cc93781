"""Every code block marked ```python runnable in the content runs without error (issue 6).

Each block runs in a fresh Python process of this virtualenv, from the project folder, with a
time limit. When the block prints something and stands in a question's stem, what it prints must
appear in a correct option: the answer is checked, not only the syntax.
"""

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from learn.curriculum.check import topic_files
from learn.curriculum.parse import ItemSource, display_path, parse_file

RUNNABLE_FENCE = re.compile(r"^(\s*)(```|~~~)python runnable\s*$")


@dataclass
class Block:
    path: str
    line: int  # of the opening fence
    code: str
    question: ItemSource | None

    def __str__(self):
        return f"{self.path}:{self.line}"


def runnable_blocks(folder: Path) -> list[Block]:
    blocks = []
    for file in topic_files(folder):
        lines = file.read_text(encoding="utf-8").split("\n")
        topic, _ = parse_file(file)
        questions = topic.of_kind("question")
        for index, line in enumerate(lines):
            match = RUNNABLE_FENCE.match(line)
            if not match:
                continue
            fence = match.group(2)
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == fence)
            code = textwrap.dedent("\n".join(lines[index + 1 : end]))
            owner = max((q for q in questions if q.line <= index + 1), key=lambda q: q.line, default=None)
            in_stem = owner is not None and code.strip() in owner.text
            blocks.append(Block(display_path(file), index + 1, code, owner if in_stem else None))
    return blocks


BLOCKS = runnable_blocks(settings.CONTENT_DIR)


def test_the_content_has_runnable_stem_blocks():
    assert sum(1 for block in BLOCKS if block.question) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_a_runnable_block_runs_and_prints_a_correct_option(block):
    done = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, f"{block}: the runnable block failed:\n{done.stderr}"
    printed = done.stdout.strip()
    if block.question and printed:
        correct = [option.text for option in block.question.options if option.is_correct]
        assert any(printed in text for text in correct), (
            f"{block}: the block prints {printed!r}, which no correct option of "
            f"question {block.question.id!r} shows"
        )
