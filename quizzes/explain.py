"""Which claims a free-text explanation makes: plain functions, no database.

A key concept is found when the answer makes its claim, not when it uses its words. The rules
(docs/scoring.md, "Explain: reading claims"):

- A concept lists claims; a claim is a list of *terms* separated by spaces, each term a set of
  alternatives separated by `/`: `worker write/store/record state/result`. An alternative of
  several words (`result-backend`, `app.AsyncResult`) matches those words in a row.
- A word matches a term's word when it is the same word, the same word form (`writes`, `wrote`,
  `written`, `writing` for `write`: see `stem`), or a typo of a word of TYPO_MIN_LENGTH letters
  or more: one letter added, missing or changed, or two swapped (`wroker`), two such typos from
  LONG_WORD letters. Another actor is never a typo (`broker` for `worker`).
- The terms of a claim must be in one sentence. The first term is the claim's subject and the
  second its predicate: the subject comes at most SUBJECT_GAP words before the predicate ("the
  worker, not the broker, writes"), and the other terms follow in the order written, each within
  TERM_WINDOW words of the one before. In the passive ("the states are written by the worker")
  the subject follows the predicate after `by`, and the other terms stand within TERM_WINDOW
  words of the two, in any order.
- When the subject is an actor (ACTORS), another actor between it and the predicate blocks the
  claim ("the worker sends it and the broker writes the result" does not say the worker
  writes), unless that actor is negated ("not the broker"), follows a preposition ("sends it to
  the broker") or directly follows the subject ("the key-value backend").
- A negation (NEGATIONS, after `n't` becomes ` not`) inside the matched words, or among the
  NEGATION_LOOKBACK words before them up to a comma or colon, cancels the claim, unless it is
  one of the claim's own terms (`never/not call get`) or negates another actor as above.
- A sentence of fewer than MIN_SENTENCE_WORDS words, or a list (three or more comma-separated
  pieces of LIST_PIECE_WORDS words or fewer on average, or a bullet of that many words), makes
  no claim: a keyword list scores 0.
- A wrong claim is matched the same way, and a hedge (HEDGES) cancels it like a negation. Found,
  it cancels the concept it contradicts.
"""

import re
from dataclasses import dataclass, field

from rapidfuzz.distance import OSA

TYPO_MIN_LENGTH = 6
LONG_WORD = 10
SUBJECT_GAP = 6
TERM_WINDOW = 8
NEGATION_LOOKBACK = 3
MIN_SENTENCE_WORDS = 2
LIST_PIECE_WORDS = 2.5
NEGATIONS = frozenset(
    {"not", "no", "never", "nor", "neither", "cannot", "nothing", "without", "instead", "unless"}
)
# Who can do something in a claim: one of them between a claim's subject and its predicate is
# the real subject of that predicate.
ACTORS = frozenset(
    {"worker", "broker", "backend", "redis", "database", "view", "client", "caller", "django"}
    | {"browser", "beat", "flower", "sender", "rabbitmq", "page", "user"}
)
ARTICLES = frozenset({"the", "a", "an"})
# A wrong claim is only made when it is asserted: "it can mean queued" is not "it means queued".
HEDGES = frozenset({"can", "may", "might", "could"})
PREPOSITIONS = frozenset(
    {"to", "from", "in", "into", "on", "of", "with", "by", "via", "through", "than", "like", "for", "at"}
)
# Word forms a suffix rule cannot find.
IRREGULAR = {
    "written": "write",
    "wrote": "write",
    "sent": "send",
    "ran": "run",
    "kept": "keep",
    "held": "hold",
    "made": "make",
    "built": "build",
    "found": "find",
    "lost": "lose",
    "thrown": "throw",
    "threw": "throw",
    "told": "tell",
    "began": "begin",
    "begun": "begin",
    "took": "take",
    "taken": "take",
    "shown": "show",
    "chose": "choose",
    "chosen": "choose",
    "knew": "know",
    "known": "know",
    "did": "do",
    "does": "do",
    "done": "do",
    "gave": "give",
    "given": "give",
    "went": "go",
    "gone": "go",
    "used": "use",
    "uses": "use",
    "saw": "see",
    "seen": "see",
    "children": "child",
    "stays": "stay",
    "stayed": "stay",
    "says": "say",
    "said": "say",
    "lives": "live",
}

# `get` in a claim is `get()`: "the view gets the id" says nothing about calling it.
NOT_FORMS_OF_GET = frozenset({"gets", "getting", "got", "gotten"})

_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n+")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Word:
    text: str
    stem: str
    after_comma: bool  # a comma or a colon stands right before this word


@dataclass(frozen=True)
class Claim:
    """A claim as written in the content (`worker write/store state`), parsed."""

    source: str
    terms: tuple[tuple[tuple[str, ...], ...], ...]  # terms → alternatives → words

    @property
    def words(self) -> frozenset[str]:
        return frozenset(word for term in self.terms for alternative in term for word in alternative)


@dataclass(frozen=True)
class ConceptResult:
    key: str
    name: str
    is_found: bool
    # Found, but a wrong claim in the same answer contradicts it: it does not count.
    is_contradicted: bool = False

    @property
    def counts(self) -> bool:
        return self.is_found and not self.is_contradicted


@dataclass(frozen=True)
class WrongClaimResult:
    key: str
    name: str
    contradicts: str  # a concept key
    sentence: str  # where the answer makes it


@dataclass
class Scoring:
    concepts: list[ConceptResult] = field(default_factory=list)
    wrong_claims: list[WrongClaimResult] = field(default_factory=list)

    @property
    def found_keys(self) -> list[str]:
        return [result.key for result in self.concepts if result.counts]


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"\bcan't\b", "can not", text)
    text = re.sub(r"\bwon't\b", "will not", text)
    return re.sub(r"n't\b", " not", text)


def stem(word: str) -> str:
    """A crude word form: `writes`, `writing`, `written` → `writ`. Only equality matters."""
    if word in NOT_FORMS_OF_GET:
        return word
    word = IRREGULAR.get(word, word)
    if not word.isalpha():
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # stopped → stopp → stop
    return word


def words_of(text: str) -> list[Word]:
    words = []
    for match in _WORD.finditer(text):
        before = text[max(0, match.start() - 2) : match.start()]
        words.append(
            Word(match.group(), stem(match.group()), after_comma=any(mark in before for mark in ",:"))
        )
    return words


def sentences(text: str) -> list[list[Word]]:
    """The sentences of `text` that can make a claim: long enough, and not a list of terms."""
    kept = []
    for part in _SENTENCE_END.split(normalise(text)):
        words = words_of(part)
        if len(words) < MIN_SENTENCE_WORDS or is_list(part):
            continue
        kept.append(words)
    return kept


def is_list(sentence: str) -> bool:
    """A list of terms, not a sentence: comma-separated short pieces, or a bullet of one or
    two words (`- STARTED / track_started`)."""
    if sentence.lstrip().startswith(("-", "*")) and len(_WORD.findall(sentence)) <= LIST_PIECE_WORDS:
        return True
    pieces = [piece for piece in sentence.split(",") if _WORD.search(piece)]
    if len(pieces) < 3:
        return False
    return sum(len(_WORD.findall(piece)) for piece in pieces) / len(pieces) <= LIST_PIECE_WORDS


def parse_claim(source: str) -> Claim:
    """Parse `worker write/store state/result`; raises ValueError with a message for an author."""
    terms = []
    for raw_term in source.split():
        alternatives = []
        for raw in raw_term.split("/"):
            words = tuple(_WORD.findall(normalise(raw)))
            if not words:
                raise ValueError(f"claim {source!r} has an empty alternative in {raw_term!r}")
            alternatives.append(words)
        terms.append(tuple(alternatives))
    if not terms:
        raise ValueError("a claim needs at least one word")
    return Claim(source=source, terms=tuple(terms))


def _same_word(wanted: str, word: Word) -> bool:
    if wanted == word.text or stem(wanted) == word.stem:
        return True
    if word.text in ACTORS:
        return False  # `broker` is never a typo of `worker`
    if not (wanted.isalpha() and word.text.isalpha() and len(wanted) >= TYPO_MIN_LENGTH):
        return False
    typos = 2 if len(wanted) >= LONG_WORD else 1
    return OSA.distance(wanted, word.text) <= typos


def _spans(term, words: list[Word]) -> list[tuple[int, int]]:
    """(start, end) of every place in `words` where one of the term's alternatives stands."""
    spans = []
    for alternative in term:
        size = len(alternative)
        for start in range(len(words) - size + 1):
            if all(_same_word(wanted, words[start + i]) for i, wanted in enumerate(alternative)):
                spans.append((start, start + size))
    return spans


def _negates_an_actor(words: list[Word], index: int, used: set[int]) -> bool:
    """`the worker, not the broker, writes`: the negation at `index` is about another actor than
    the claim's own subject ("not the worker writes" still negates the claim)."""
    following = index + 1
    if following < len(words) and words[following].text in ARTICLES:
        following += 1
    return following < len(words) and words[following].text in ACTORS and following not in used


def _is_free_actor(words: list[Word], index: int, subject_words) -> bool:
    word = words[index]
    if word.text not in ACTORS or word.text in subject_words:
        return False
    before = [w.text for w in words[max(0, index - 3) : index]]
    return not (set(before) & (PREPOSITIONS | NEGATIONS))


def _is_negated(words: list[Word], used: set[int], own_words: frozenset[str], cancels) -> bool:
    first, last = min(used), max(used)
    for index in range(first, last + 1):
        if index in used:
            continue
        if words[index].text in cancels and not _negates_an_actor(words, index, used):
            return True
    index = first
    for _ in range(NEGATION_LOOKBACK):
        if index == 0 or words[index].after_comma:
            return False
        index -= 1
        if words[index].text in cancels and words[index].text not in own_words:
            return not _negates_an_actor(words, index, used)
    return False


def _claim_in(claim: Claim, words: list[Word], cancels=NEGATIONS) -> bool:
    """Whether the sentence `words` makes `claim`; `cancels` are the words that undo it."""
    spans = [_spans(term, words) for term in claim.terms]
    if not all(spans):
        return False
    if len(claim.terms) == 1:
        return any(
            not _is_negated(words, set(range(start, end)), claim.words, cancels) for start, end in spans[0]
        )
    subject_words = {word for alternative in claim.terms[0] for word in alternative}
    for subject in spans[0]:
        for predicate in spans[1]:
            if not _subject_and_predicate(words, subject, predicate, subject_words):
                continue
            anchor = (min(subject[0], predicate[0]), max(subject[1], predicate[1]))
            used = set(range(*subject)) | set(range(*predicate))
            after = predicate[1] if subject[1] <= predicate[0] else None
            if _rest_of_claim(words, spans[2:], anchor, used, claim.words, cancels, after=after):
                return True
    return False


def _subject_and_predicate(words, subject, predicate, subject_words) -> bool:
    if subject[1] <= predicate[0]:  # active: the worker ... writes
        gap = range(subject[1], predicate[0])
        if len(gap) > SUBJECT_GAP:
            return False
        if not subject_words & ACTORS:
            return True  # only a claim about who does something can have its actor replaced
        # An actor right after the subject is part of its name: "the key-value backend skips".
        return not any(_is_free_actor(words, index, subject_words) for index in gap if index != subject[1])
    if predicate[1] <= subject[0]:  # passive: written by the worker
        between = [words[index].text for index in range(predicate[1], subject[0])]
        return "by" in between and len(between) <= 3
    return False


def _rest_of_claim(words, other_spans, anchor, used, own_words, cancels, *, after: int | None) -> bool:
    """Place every other term, then check for a negation. In the active voice (`after` set) the
    terms follow in the order written, each within TERM_WINDOW words of the one before; in the
    passive they stand within TERM_WINDOW words of the subject and predicate, in any order."""
    if not other_spans:
        return not _is_negated(words, used, own_words, cancels)
    for start, end in other_spans[0]:
        taken = set(range(start, end))
        if taken & used:
            continue
        if after is not None and not after <= start <= after + TERM_WINDOW:
            continue
        if after is None and (start > anchor[1] + TERM_WINDOW or end < anchor[0] - TERM_WINDOW):
            continue
        rest_after = end if after is not None else None
        if _rest_of_claim(words, other_spans[1:], anchor, used | taken, own_words, cancels, after=rest_after):
            return True
    return False


def asserting_sentence(text: str, claim_sources) -> str | None:
    """The first sentence of `text` that asserts one of the (wrong) claims, as the learner wrote
    it: a hedge ("it can mean queued") cancels a wrong claim like a negation."""
    claims = [parse_claim(source) for source in claim_sources]
    for part in _SENTENCE_END.split(text):
        words = words_of(normalise(part))
        if len(words) < MIN_SENTENCE_WORDS or is_list(part):
            continue
        if any(_claim_in(claim, words, NEGATIONS | HEDGES) for claim in claims):
            return part.strip()
    return None


def makes_claim(text: str, claim_sources) -> bool:
    claims = [parse_claim(source) for source in claim_sources]
    return any(_claim_in(claim, words) for words in sentences(text) for claim in claims)


def score_explanation(text: str, concepts, wrong_claims=()) -> Scoring:
    """Score `text`: one result per concept (objects with `key`, `name`, `phrasings`, the
    claims), in order, and the wrong claims (objects with `key`, `name`, `phrasings` and
    `contradicts_key`) it makes."""
    found_wrong = []
    for wrong in wrong_claims:
        sentence = asserting_sentence(text, wrong.phrasings)
        if sentence is not None:
            found_wrong.append(WrongClaimResult(wrong.key, wrong.name, wrong.contradicts_key, sentence))
    contradicted = {wrong.contradicts for wrong in found_wrong}
    results = [
        ConceptResult(
            key=concept.key,
            name=concept.name,
            is_found=makes_claim(text, concept.phrasings),
            is_contradicted=concept.key in contradicted,
        )
        for concept in concepts
    ]
    return Scoring(concepts=results, wrong_claims=found_wrong)
