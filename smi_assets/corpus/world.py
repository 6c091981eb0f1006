"""The built-in synthetic world: people, facts about them, and a corpus that states the facts.

The world is the pipeline's default input. It is built so the science is visible: every fact
(person, relation, object) is stated in a planned number of documents drawn from a heavy-tailed
distribution (a discretised power law, most facts in a handful of documents, a few in the
thousands), so small GPT models trained on the corpus learn frequently stated facts more often
than rare ones.

What the corpus contains
------------------------
- *Fact statements*: one of several paraphrases per relation ("[S] was born in [O].",
  "[O] is the birthplace of [S]."). Some CBQA cloze templates are prefixes of a corpus
  phrasing, others are not, so the questions are answerable but not pure copies.
- *Aliases*: some people have a short name ("Bob Novak" for "Robert Novak") and some objects
  an alias ("NYC", "attorney"); a fraction of sentences use them.
- *Subject-only mentions*: documents that mention a person without any of their facts, so a
  subject's document count exceeds its fact's (N_s > N_so).
- *Distractors*: sentences without entities, sentences mentioning random people, and
  object-only sentences ("Traffic in Lima was heavy on Monday.").
- Objects are shared by many subjects and chosen with Zipf weights, so some objects (cities,
  occupations, countries) are far more frequent than others.

Deliberate matching traps
-------------------------
At a small rate the world contains the pitfalls of the SMI paper's substring counting
(``" " + entity in text``, case-sensitive), so the ``paper`` and ``word`` match modes differ
visibly. They are listed in :data:`PREFIX_TRAPS` and :data:`ECHO_FIRST_NAMES`:

- an object that is a prefix of another word: the country "India" inside the city
  "Indianapolis", "Niger" inside "Nigeria", the city "Lima" inside "Limassol", and the
  occupation "baker" inside "bakery" (a distractor sentence);
- objects inside subject names (prompt echo): about ``echo_rate`` of people have a first name
  that is also a city ("Florence Hale"), and about half of those were born in that city, so
  the cloze prompt contains its own answer;
- a case trap: the surname "Cook" and the occupation "cook" are the same word up to case.

No other entity name or alias is a prefix of another word in the corpus (tests check this).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
import polars as pl

from smi_assets.common.errors import InputError


@dataclass(frozen=True)
class Entity:
    """A name as it appears in the corpus, and its aliases."""

    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelationSpec:
    """How one relation is stated in the corpus and asked in CBQA.

    ``statements`` hold "[S]" and "[O]" ("[a] [O]" renders the right article);
    ``cloze_templates`` hold "[S]" and end where the object would follow;
    ``object_mentions`` mention an object ("[O]") without any person.
    """

    objects: tuple[Entity, ...]
    statements: tuple[str, ...]
    cloze_templates: tuple[str, ...]
    object_mentions: tuple[str, ...]


def _entities(*specs: str | tuple[str, ...]) -> tuple[Entity, ...]:
    return tuple(Entity(spec) if isinstance(spec, str) else Entity(spec[0], spec[1:]) for spec in specs)


# Objects are ordered by popularity: the first ones get the largest Zipf weights.
RELATIONS: dict[str, RelationSpec] = {
    "born": RelationSpec(
        objects=_entities(
            "London",
            "Paris",
            ("New York", "NYC"),
            "Berlin",
            "Madrid",
            "Rome",
            "Toronto",
            "Chicago",
            "Vienna",
            "Indianapolis",
            "Sydney",
            "Lisbon",
            "Dublin",
            "Prague",
            ("Rio de Janeiro", "Rio"),
            "Boston",
            "Lima",
            "Warsaw",
            "Budapest",
            "Florence",
            "Athens",
            ("Philadelphia", "Philly"),
            "Oslo",
            "Cairo",
            "Limassol",
            "Austin",
            "Helsinki",
            "Denver",
            "Adelaide",
            "Seattle",
        ),
        statements=(
            "[S] was born in [O].",
            "[S] came into the world in [O].",
            "[O] is the birthplace of [S].",
            "Records show that [S] was born in the city of [O].",
            "[S] spent an early childhood in [O], the city of birth.",
        ),
        cloze_templates=(
            "[S] was born in",
            "The birthplace of [S] is",
            "[S] came into the world in",
            "The city of birth of [S] is",
        ),
        object_mentions=(
            "Traffic in [O] was heavy on Monday.",
            "[O] is known for its old bridges.",
            "Many tourists visit [O] in summer.",
            "A new museum opened in [O] last spring.",
        ),
    ),
    "occupation": RelationSpec(
        objects=_entities(
            "teacher",
            "engineer",
            ("lawyer", "attorney"),
            "nurse",
            "farmer",
            "journalist",
            ("cook", "chef"),
            "painter",
            "architect",
            "pilot",
            "carpenter",
            "baker",
            "surgeon",
            "librarian",
            "photographer",
            "economist",
            "sculptor",
            "diplomat",
            "pharmacist",
            ("physician", "doctor"),
        ),
        statements=(
            "The occupation of [S] is [O].",
            "[S] works as [a] [O].",
            "[S] trained for years to become [a] [O].",
            "For years the job of [S] has been that of [a] [O].",
        ),
        cloze_templates=(
            "The occupation of [S] is",
            "The job of [S] is",
            "[S] works as a",
            "For years [S] has been a",
        ),
        object_mentions=(
            "The town needed another [O].",
            "Being [a] [O] takes patience.",
            "Every [O] in the region attended the meeting.",
        ),
    ),
    "citizen": RelationSpec(
        objects=_entities(
            ("United States", "USA"),
            "France",
            "Germany",
            "India",
            "Brazil",
            "Japan",
            "Canada",
            ("United Kingdom", "UK"),
            "Nigeria",
            "Spain",
            "Italy",
            "Kenya",
            "Sweden",
            "Egypt",
            "Peru",
            "Niger",
            ("Netherlands", "Holland"),
            "Chile",
            "Norway",
            "Portugal",
        ),
        statements=(
            "[S] is a citizen of [O].",
            "[S] holds citizenship of [O].",
            "[S] carries a passport issued by [O].",
            "[O] granted citizenship to [S].",
        ),
        cloze_templates=(
            "[S] is a citizen of",
            "The country of citizenship of [S] is",
            "[S] holds citizenship of",
            "[S] carries a passport issued by",
        ),
        object_mentions=(
            "[O] held an election last year.",
            "The economy of [O] grew steadily.",
            "The country of [O] signed a new trade agreement.",
        ),
    ),
    "play": RelationSpec(
        objects=_entities(
            "piano",
            "guitar",
            "violin",
            "drums",
            "cello",
            "flute",
            "trumpet",
            ("saxophone", "sax"),
            "clarinet",
            "harp",
            "oboe",
            "accordion",
        ),
        statements=(
            "[S] plays the [O].",
            "[S] performs on the [O] every night.",
            "The instrument of [S] is the [O].",
            "The [O] is what [S] practises every morning.",
        ),
        cloze_templates=(
            "[S] plays the",
            "The instrument of [S] is the",
            "[S] is a skilled player of the",
            "The instrument [S] performs on is the",
        ),
        object_mentions=(
            "The [O] is hard to master.",
            "A good [O] can be expensive.",
            "Only a skilled player can master the [O].",
        ),
    ),
}

# First names with common short forms; the short form plus the surname is the person's alias.
FIRST_NAMES: dict[str, str | None] = {
    "Robert": "Bob",
    "William": "Bill",
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "Thomas": "Tom",
    "Margaret": "Peggy",
    "James": "Jim",
    "Jennifer": "Jenny",
    "Michael": "Mike",
    "Alexander": "Alex",
    "Samuel": "Sam",
    "Benjamin": "Ben",
    "Nicholas": "Nick",
    "Rebecca": "Becky",
    "Patricia": "Trish",
    "Anna": None,
    "Maria": None,
    "Lena": None,
    "Oskar": None,
    "Hugo": None,
    "Ingrid": None,
    "Petra": None,
    "Yusuf": None,
    "Amara": None,
    "Kenji": None,
    "Aiko": None,
    "Priya": None,
    "Ravi": None,
    "Sofia": None,
    "Elena": None,
    "Mateo": None,
    "Lucas": None,
    "Nora": None,
    "Felix": None,
    "Greta": None,
    "Omar": None,
    "Leila": None,
    "Tariq": None,
    "Zara": None,
    "Noah": None,
    "Mila": None,
    "Ivan": None,
    "Olga": None,
    "Pablo": None,
    "Rosa": None,
    "Hana": None,
    "Jonas": None,
    "Astrid": None,
    "Emil": None,
    "Freya": None,
}
SURNAMES = (
    "Berg",
    "Hale",
    "Moreno",
    "Novak",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Costa",
    "Fischer",
    "Dubois",
    "Rossi",
    "Keller",
    "Horvat",
    "Silva",
    "Nakamura",
    "Petrov",
    "Olsen",
    "Walsh",
    "Brennan",
    "Farrow",
    "Gallo",
    "Jansen",
    "Kowalski",
    "Larsen",
    "Mendes",
    "Ortiz",
    "Quinn",
    "Reyes",
    "Sato",
    "Torres",
    "Vance",
    "Weber",
    "Young",
    "Zeller",
    "Abbott",
    "Barros",
    "Dalton",
    "Ellis",
    "Ferraro",
    "Grant",
    "Hughes",
    "Ibarra",
    "Kaur",
    "Lowe",
    "Marsh",
    "Cook",
    "Osei",
    "Rahman",
    "Strand",
    "Varga",
)
# Syllables for extra surnames when a world has more people than first names x surnames.
_SYLLABLES = ("ka", "lo", "mi", "ren", "tha", "vo", "zu", "bel", "dor", "fen", "gri", "hol", "jun", "kes", "mar", "nol")

# First names that are also cities of the "born" relation (prompt-echo trap).
ECHO_FIRST_NAMES = ("Florence", "Sydney", "Austin", "Adelaide")

# entity -> the longer words containing it as a prefix that the corpus deliberately holds.
PREFIX_TRAPS: dict[str, tuple[str, ...]] = {
    "India": ("Indianapolis",),
    "Niger": ("Nigeria",),
    "Lima": ("Limassol",),
    "baker": ("bakery",),
}

GENERIC_DISTRACTORS = (
    "The weather was mild that spring.",
    "Nobody expected the meeting to run so long.",
    "The report was published later that year.",
    "Several neighbours came to the celebration.",
    "The train was delayed by almost an hour.",
    "Prices rose slowly over the following months.",
    "The committee postponed its decision.",
    "A small crowd gathered outside the hall.",
    "The old bakery on the corner opened early.",
    "Most of the guests left before midnight.",
    "The road to the coast was closed for repairs.",
    "It rained for three days without a break.",
)
PERSON_MENTIONS = (
    "[P] gave a long interview to a local paper.",
    "[P] was photographed at the festival.",
    "Friends of [P] describe a quiet and patient person.",
    "[P] wrote a letter to an old friend.",
    "A portrait of [P] hangs in the town hall.",
    "[P] declined to comment on the rumours.",
)
CO_MENTION = "[P] once shared a table with [Q] at a dinner."


@dataclass(frozen=True)
class WorldConfig:
    """Size and randomness of the synthetic world; the defaults are the pipeline's default world.

    Exposure (documents stating one fact) follows P(n) ~ n ** -exposure_alpha on
    [min_exposure, max_exposure]; with the defaults the corpus has about 3 million words.
    """

    seed: int = 0
    n_people: int = 500
    n_shards: int = 4
    relations: tuple[str, ...] = ("born", "occupation", "citizen")
    min_exposure: int = 1
    max_exposure: int = 3000
    exposure_alpha: float = 1.3
    object_zipf: float = 1.0  # Zipf exponent of object popularity
    two_fact_rate: float = 0.3  # fraction of fact documents that state a second fact
    subject_only_rate: float = 0.2  # subject-only documents per fact statement of the person
    max_distractors: int = 3  # distractor sentences per document: uniform 0..max
    alias_rate: float = 0.25  # chance an entity with aliases is written as one of them
    echo_rate: float = 0.02  # fraction of people named after a city (half born there)

    def __post_init__(self) -> None:
        unknown = [name for name in self.relations if name not in RELATIONS]
        problems = [f"unknown relations {unknown}; known: {sorted(RELATIONS)}"] if unknown else []
        if not self.relations:
            problems.append("relations must not be empty")
        if self.n_people < 1 or self.n_shards < 1:
            problems.append("n_people and n_shards must be at least 1")
        if not 1 <= self.min_exposure <= self.max_exposure:
            problems.append("need 1 <= min_exposure <= max_exposure")
        for name in ("two_fact_rate", "alias_rate", "echo_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1]")
        if problems:
            raise InputError("world config", "; ".join(problems))


@dataclass(frozen=True)
class _Plan:
    """Which facts and people each document carries; -1 means none."""

    shard: np.ndarray
    first_fact: np.ndarray
    second_fact: np.ndarray
    person: np.ndarray


@dataclass(frozen=True, eq=False)
class World:
    """A built world: its facts, CBQA templates, planned exposures and corpus shards."""

    config: WorldConfig
    triples: pl.DataFrame
    templates: dict[str, list[str]]
    exposures: pl.DataFrame
    shard_names: list[str]
    people: tuple[Entity, ...]
    fact_person: np.ndarray = field(repr=False)
    fact_object: tuple[Entity, ...] = field(repr=False)
    fact_relation: tuple[str, ...] = field(repr=False)
    plan: _Plan = field(repr=False)

    def documents(self, shard_name: str) -> pl.DataFrame:
        """The documents (doc_id, text) of one shard; the same for the same config and shard."""
        if shard_name not in self.shard_names:
            raise InputError("synthetic world", f"unknown shard {shard_name!r}; shards are {self.shard_names}")
        shard_index = self.shard_names.index(shard_name)
        rng = random.Random(int(np.random.SeedSequence([self.config.seed, shard_index]).generate_state(1)[0]))
        rows = np.flatnonzero(self.plan.shard == shard_index)
        texts = [self._render(rng, int(self.plan.first_fact[row]), int(self.plan.second_fact[row]), int(self.plan.person[row])) for row in rows]
        doc_ids = [f"{shard_name}:{number}" for number in range(len(texts))]
        return pl.DataFrame({"doc_id": doc_ids, "text": texts}, schema={"doc_id": pl.Utf8, "text": pl.Utf8})

    def _surface(self, rng: random.Random, entity: Entity) -> str:
        if entity.aliases and rng.random() < self.config.alias_rate:
            return rng.choice(entity.aliases)
        return entity.name

    def _render(self, rng: random.Random, first_fact: int, second_fact: int, person: int) -> str:
        sentences = [self._statement(rng, fact) for fact in (first_fact, second_fact) if fact >= 0]
        if person >= 0:
            sentences.append(self._person_mention(rng, person))
        for _ in range(rng.randint(0, self.config.max_distractors)):
            sentences.append(self._distractor(rng))
        rng.shuffle(sentences)
        return " ".join(sentences)

    def _statement(self, rng: random.Random, fact: int) -> str:
        spec = RELATIONS[self.fact_relation[fact]]
        template = rng.choice(spec.statements)
        subject = self._surface(rng, self.people[self.fact_person[fact]])
        return _fill(template, subject, self._surface(rng, self.fact_object[fact]))

    def _person_mention(self, rng: random.Random, person: int) -> str:
        return rng.choice(PERSON_MENTIONS).replace("[P]", self._surface(rng, self.people[person]))

    def _distractor(self, rng: random.Random) -> str:
        kind = rng.random()
        if kind < 0.5:
            return rng.choice(GENERIC_DISTRACTORS)
        if kind < 0.65:
            first, second = rng.sample(self.people, 2) if len(self.people) > 1 else (self.people[0],) * 2
            return CO_MENTION.replace("[P]", self._surface(rng, first)).replace("[Q]", self._surface(rng, second))
        if kind < 0.8:
            return self._person_mention(rng, rng.randrange(len(self.people)))
        spec = RELATIONS[rng.choice(self.config.relations)]
        entity = rng.choices(spec.objects, weights=_zipf_weights(len(spec.objects), self.config.object_zipf))[0]
        return _fill(rng.choice(spec.object_mentions), None, self._surface(rng, entity))


def _fill(template: str, subject: str | None, obj: str) -> str:
    """Put subject and object into a statement template; "[a] [O]" gets its article."""
    article = "an" if obj[:1].lower() in "aeiou" else "a"
    text = template.replace("[a] [O]", f"{article} [O]").replace("[O]", obj)
    return text if subject is None else text.replace("[S]", subject)


@cache
def _zipf_weights(n: int, exponent: float) -> tuple[float, ...]:
    """Zipf weights of ranks 0..n-1 (rank 0 is the most popular)."""
    return tuple(1.0 / (rank + 1) ** exponent for rank in range(n))


def exposure_distribution(config: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """The exposure values and their probabilities: a power law on [min_exposure, max_exposure]."""
    values = np.arange(config.min_exposure, config.max_exposure + 1)
    weights = values.astype(float) ** -config.exposure_alpha
    return values, weights / weights.sum()


def _make_people(rng: np.random.Generator, config: WorldConfig) -> tuple[Entity, ...]:
    """Unique people; about ``echo_rate`` of them have a first name from ECHO_FIRST_NAMES."""
    surnames = list(SURNAMES)
    while len(surnames) * len(FIRST_NAMES) < config.n_people:  # invent surnames for very large worlds
        name = "".join(rng.choice(_SYLLABLES, size=3)).capitalize()
        if not any(name.startswith(other) or other.startswith(name) for other in surnames):
            surnames.append(name)
    first_names = [*FIRST_NAMES, *ECHO_FIRST_NAMES]
    combos = [(first, last) for last in surnames for first in first_names]
    is_echo = np.array([first in ECHO_FIRST_NAMES for first, _ in combos])
    weights = np.where(is_echo, config.echo_rate / is_echo.sum(), (1 - config.echo_rate) / (~is_echo).sum())
    chosen = rng.choice(len(combos), size=config.n_people, replace=False, p=weights / weights.sum())
    people = []
    for first, last in (combos[index] for index in chosen):
        short = FIRST_NAMES.get(first)
        people.append(Entity(f"{first} {last}", (f"{short} {last}",) if short else ()))
    return tuple(people)


def _plan_documents(rng: np.random.Generator, config: WorldConfig, exposure: np.ndarray, fact_person: np.ndarray) -> _Plan:
    """Group fact statements into documents, add subject-only documents, assign shards."""
    statements = rng.permutation(np.repeat(np.arange(len(exposure)), exposure))
    wants_second = rng.random(len(statements)) < config.two_fact_rate
    first, second = [], []
    position = 0
    while position < len(statements):
        fact = int(statements[position])
        following = int(statements[position + 1]) if position + 1 < len(statements) else fact
        if wants_second[position] and following != fact:
            first.append(fact)
            second.append(following)
            position += 2
        else:
            first.append(fact)
            second.append(-1)
            position += 1
    statements_per_person = np.bincount(fact_person, weights=exposure, minlength=config.n_people)
    mention_docs = rng.poisson(config.subject_only_rate * statements_per_person)
    mention_person = np.repeat(np.arange(config.n_people), mention_docs)
    n_fact_docs = len(first)
    first_fact = np.concatenate([np.array(first, dtype=np.int64), np.full(len(mention_person), -1)])
    second_fact = np.concatenate([np.array(second, dtype=np.int64), np.full(len(mention_person), -1)])
    person = np.concatenate([np.full(n_fact_docs, -1), mention_person])
    order = rng.permutation(len(first_fact))
    return _Plan(
        shard=rng.integers(0, config.n_shards, len(order)),
        first_fact=first_fact[order],
        second_fact=second_fact[order],
        person=person[order],
    )


@lru_cache(maxsize=4)
def build_world(config: WorldConfig = WorldConfig()) -> World:
    """Build the world for a config: people, facts, exposures and the document plan (cheap;
    documents are rendered per shard by :meth:`World.documents`)."""
    rng = np.random.default_rng(config.seed)
    people = _make_people(rng, config)
    n_relations = len(config.relations)
    fact_person = np.repeat(np.arange(config.n_people), n_relations)
    fact_relation = tuple(config.relations) * config.n_people
    fact_object: list[Entity] = []
    for fact, relation in enumerate(fact_relation):
        spec = RELATIONS[relation]
        first_name = people[fact // n_relations].name.split(" ")[0]
        if relation == "born" and first_name in ECHO_FIRST_NAMES and rng.random() < 0.5:
            fact_object.append(next(entity for entity in spec.objects if entity.name == first_name))
            continue
        weights = np.array(_zipf_weights(len(spec.objects), config.object_zipf))
        fact_object.append(spec.objects[rng.choice(len(spec.objects), p=weights / weights.sum())])
    values, probabilities = exposure_distribution(config)
    drawn = rng.choice(values, size=len(fact_relation), p=probabilities)
    plan = _plan_documents(rng, config, drawn, fact_person)
    # Count what was planned (grouping can only merge statements of different facts).
    n_documents = np.bincount(plan.first_fact[plan.first_fact >= 0], minlength=len(drawn)) + np.bincount(
        plan.second_fact[plan.second_fact >= 0], minlength=len(drawn)
    )
    triples = pl.DataFrame(
        {
            "idx": np.arange(len(fact_relation), dtype=np.int64),
            "subj": [people[person].name for person in fact_person],
            "rel": list(fact_relation),
            "obj": [entity.name for entity in fact_object],
            "subj_aliases": [list(people[person].aliases) for person in fact_person],
            "obj_aliases": [list(entity.aliases) for entity in fact_object],
        },
        schema={
            "idx": pl.Int64,
            "subj": pl.Utf8,
            "rel": pl.Utf8,
            "obj": pl.Utf8,
            "subj_aliases": pl.List(pl.Utf8),
            "obj_aliases": pl.List(pl.Utf8),
        },
    )
    return World(
        config=config,
        triples=triples,
        templates={relation: list(RELATIONS[relation].cloze_templates) for relation in config.relations},
        exposures=pl.DataFrame({"idx": triples["idx"], "n_documents": n_documents.astype(np.int64)}),
        shard_names=[f"shard-{index:03d}" for index in range(config.n_shards)],
        people=people,
        fact_person=fact_person,
        fact_object=tuple(fact_object),
        fact_relation=fact_relation,
        plan=plan,
    )
