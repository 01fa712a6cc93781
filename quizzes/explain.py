"""Which key concepts a free-text explanation names: plain functions, no database.

A concept counts as named when one of its phrasings appears in the text, tolerating typos, word
forms and word order, and is not negated. The rules (see docs/scoring.md):

- Text and phrasings are lowercased, "n't" becomes " not", and both are split into words
  (letters, digits and `_`): `app.AsyncResult(task_id)` gives `app asyncresult task_id`.
- A one-word phrasing of at most 4 letters (`ttl`, `poll`) must appear exactly. A longer one
  matches a word with `fuzz.ratio` >= SINGLE_WORD_THRESHOLD (`backnd` for `backend`).
- A phrasing of k words matches any run of k-1 (only when k >= 3) to k+1 consecutive words with
  `fuzz.token_sort_ratio` >= PHRASE_THRESHOLD, so word order, an extra or missing word and small
  typos pass (`started tracking` for `track started`). A negation word in the phrasing itself
  (`do not call get`) must be in the run.
- A match is negated when a negation word (NEGATIONS) stands among the NEGATION_LOOKBACK words
  before it, without punctuation in between, or inside the matched run but not in the phrasing
  ("ready() does not mean success" does not name "success"). Any one match that is not negated
  names the concept.
"""

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

SINGLE_WORD_THRESHOLD = 85
PHRASE_THRESHOLD = 80
SHORT_WORD = 4
NEGATION_LOOKBACK = 3
NEGATIONS = frozenset({"not", "no", "never", "nor", "neither", "cannot", "none"})

_WORD = re.compile(r"\w+")
# Punctuation that ends a clause: a negation does not reach across it.
_CLAUSE_END = re.compile(r"[.,;:!?](?=\s|$)|\n")


@dataclass(frozen=True)
class Word:
    text: str
    starts_clause: bool


@dataclass(frozen=True)
class ConceptResult:
    key: str
    name: str
    is_found: bool


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"\bcan't\b", "can not", text)
    text = re.sub(r"\bwon't\b", "will not", text)
    return re.sub(r"n't\b", " not", text)


def split_words(text: str) -> list[Word]:
    """The words of `text`, each marked when a clause boundary comes right before it."""
    words = []
    for clause in _CLAUSE_END.split(normalise(text)):
        for index, match in enumerate(_WORD.finditer(clause)):
            words.append(Word(match.group(), starts_clause=index == 0))
    return words


def _is_negated(words: list[Word], start: int, end: int, phrasing_words: set[str]) -> bool:
    inside = {word.text for word in words[start:end]} - phrasing_words
    if inside & NEGATIONS:
        return True
    index = start
    for _ in range(NEGATION_LOOKBACK):
        if words[index].starts_clause or index == 0:
            return False
        index -= 1
        if words[index].text in NEGATIONS:
            return True
    return False


def names_phrasing(words: list[Word], phrasing: str) -> bool:
    """True when `phrasing` appears in `words`, fuzzily, at least once without a negation."""
    target = [word.text for word in split_words(phrasing)]
    if not target:
        return False
    target_set = set(target)
    if len(target) == 1:
        spans = [(i, i + 1) for i in range(len(words)) if _word_matches(target[0], words[i].text)]
    else:
        joined = " ".join(target)
        required = target_set & NEGATIONS  # "do not call get" needs its "not"
        sizes = (len(target) - 1, len(target), len(target) + 1) if len(target) > 2 else (2, 3)
        spans = []
        for size in sizes:
            for start in range(len(words) - size + 1):
                run = [word.text for word in words[start : start + size]]
                if required - set(run):
                    continue
                if fuzz.token_sort_ratio(joined, " ".join(run)) >= PHRASE_THRESHOLD:
                    spans.append((start, start + size))
    return any(not _is_negated(words, start, end, target_set) for start, end in spans)


def _word_matches(target: str, word: str) -> bool:
    if len(target) <= SHORT_WORD:
        return target == word
    return fuzz.ratio(target, word) >= SINGLE_WORD_THRESHOLD


def find_concepts(text: str, concepts) -> list[ConceptResult]:
    """One result per concept (objects with `key`, `name`, `phrasings`), in the given order."""
    words = split_words(text)
    return [
        ConceptResult(
            key=concept.key,
            name=concept.name,
            is_found=any(names_phrasing(words, phrasing) for phrasing in concept.phrasings),
        )
        for concept in concepts
    ]
