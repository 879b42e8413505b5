"""Find governorates, areas, streets and landmarks by name, in Arabic or English, in the search index
(layers/models/search.py). ``layers.selectors.search_entries`` adds blocks and parcels by reference
(layers/search_references.py).

A name that is the query (after normalizing both) comes first; then entries that contain it; then those that hold
every word of it in any order (a street's area and blocks are searched with it: "شارع 5 السالمية", "Salmiya block
10"), those whose names hold more of the words first; then, among these, those whose Arabic or English name starts
with it, then those with a word starting with it, then the rest; then names like it (a typo, a missing letter,
another spelling: "Salmiyah"). Ordinals are searched as numbers too ("4th ring road", "الدائري 4"). Within each of
these, a governorate comes before an area, an area before a street, a street before a landmark (a place's name before
the names made from it: the area Salmiya before "Salmiya Park"), then the shorter name in words, then the more
prominent kind (layers/prominence.py), then the name most like the whole query. Where no name holds the query's words
as written, a word no name holds is read as meant: words joined by a comma ("Station,Block") apart, a word glued to a
number ("Street6") apart from it, a street's kind mistyped by a letter ("Stret", "شارغ") as the kind.

Two costs are bounded, since a word such as "شارع" or "Street" is in most of a large municipality's 300,000 entries:
- Names found only by likeness are looked for only when fewer than the asked number hold the query's words (they
  come after every such name, so they could not be listed), and none of those is the query (a name or a key asked
  whole: "West Abdullah Al-Mubarak 55 Police Station, Block 19" took 1 s to list names like it after itself).
  Likeness is the costliest test of an entry.
- How alike two names are (pg_trgm's similarity) is worked out only for the ``SEARCH_RANKED_BY_LIKENESS`` entries
  first by every other key. Where the entries alike on every other key with the last listed run past that many
  (thousands of "شارع N", all local streets of two words), the shorter names are kept, which are the more alike in
  letters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection, transaction

from geoportal.errors import InvalidInput

from .prominence import LANDMARK_PROMINENCE, STREET_PROMINENCE

# How alike a name must be (pg_trgm word similarity, 0–1) to be found without containing the query.
SEARCH_SIMILARITY = 0.5
# The words that say what kind of street a name is, normalized (geoportal_search_normalize). A name found only
# by likeness must be like the query's other words: "Baghdad Street" is not Street 1, nor "شارع بغداد" Bilal Bin
# Rabah Street, for sharing "street" or "شارع".
STREET_KIND_WORDS = ["street", "st", "road", "rd", "avenue", "ave", "highway", "expressway", "شارع", "طريق", "جاده"]
# The street kinds a word mistyped by a letter may stand for: "st" and "rd" are a letter off too many words.
STREET_KINDS_MISTYPED = [kind for kind in STREET_KIND_WORDS if len(kind) >= 4]
STOPS = ",.،؛;۔"  # a comma, a full stop, a semicolon, in either script
# A word of three letters or more glued to a number ("street6"), and the stop after it: not "a4" (a street's code),
# nor "4th".
GLUED_NUMBER = re.compile(rf"(?P<letters>[^\W\d_]{{3,}})(?P<number>[0-9]+)(?P<stop>[{STOPS}]*)")
# A comma, full stop or semicolon between a word's letters ("station,block", "dr.ahmad"; not "1.5"): the words a space
# after it was left out of.
INNER_PUNCTUATION = re.compile(rf"(?<=[^\W\d_])[{STOPS}]+(?=\w)|(?<=\w)[{STOPS}]+(?=[^\W\d_])")
QUERY_WORD = re.compile(r"[^\s/-]+")  # the query's words, much as SEARCH_TERMS splits them
# How many of a query's words are looked up at once to be read as meant.
WORDS_MEANT_LOOKED_UP = 8
# How many entries, the first by every key but likeness, are ranked by how alike their names are to the query.
SEARCH_RANKED_BY_LIKENESS = 5000

# The query as the index folds it, its words less the article people write or leave out ("Al Jahra" is Jahra, and
# "الشرق" is شرق: a word of the entry may then start with the word or with ال and the word), and its core: what a
# name found by likeness alone must be like, the words that are no street's kind, if any. Constants of the search
# query below: with them the planner reaches the candidates through the trigram index, not by reading every entry.
SEARCH_TERMS = """
    WITH q AS (SELECT geoportal_search_normalize(%(query)s) AS text)
    SELECT trim(q.text) = '', set_config('pg_trgm.word_similarity_threshold', %(similarity)s, true), q.text,
           array_agg(regexp_replace(word, '^ال(?=..)', '')) FILTER (WHERE word IS NOT NULL),
           coalesce(nullif(array_to_string(array_agg(word) FILTER (WHERE word <> ALL(%(street_kinds)s)), ' '), ''),
                    q.text)
    FROM q LEFT JOIN LATERAL regexp_split_to_table(trim(q.text), '[\\s/-]+') AS word ON word NOT IN ('al', 'el')
    GROUP BY q.text
"""

# Each entry's rank by every key but likeness, as one number, lower first (a sort of 200,000 entries on eleven keys,
# each compared in turn, cost a second): its keys' values, each in a field of its own width, the first key in the
# highest bits. The first seven depend on the query, then come the entry's own. The last, the length of its names
# (the shorter of two names that hold the query is the more alike in letters), stands for likeness in the first cut
# and is left out after it (RANK_BY_KEYS). Each width holds every value its key can take (tests/layers/
# test_search_bounds.py): a query of 100 characters has at most 51 words (the first empty where it starts with a
# separator), a name of 200 at most 100.
RANK_FIELDS = (  # (the key, its value in SQL from 0 to TOP, the field's highest, its width in bits)
    ("a key asked whole (LM-00360)", "(NOT translate(lower(e.key), '-', ' ') = %(text)s)::int", 1),
    (
        "a name that is the query",
        "(NOT (%(text)s IN (e.name_ar_folded, e.name_en_folded)"
        " OR coalesce(%(joined)s IN (e.name_ar_bare, e.name_en_folded), false)))::int",
        1,
    ),
    ("holding it whole", "(NOT e.search_text LIKE %(containing)s)::int", 1),
    ("holding every word of it", "(NOT EVERY_WORD)::int", 1),
    # "شارع 5 السالمية" is Street 5 in Salmiya before Fahad Al-Salem Street, which serves block 5 of Salmiya
    ("its names holding more of those words", "TOP - NAMES_HOLDING", 6),
    (
        "a name starting with it",
        "(NOT (e.name_ar_folded LIKE %(starting)s OR e.name_en_folded LIKE %(starting)s))::int",
        1,
    ),
    ("a word starting with it", "(NOT e.search_text LIKE %(word_starting)s)::int", 1),
    ("its layer", "array_position(ARRAY['governorates', 'areas', 'streets', 'landmarks'], e.layer::text)", 3),
    # "مجمع السالمية التجاري" (Salmiya Mall) before "سوق السالمية - قطعة 7", which letters alone found more like
    # "سالمية"
    ("its shorter name's words, the fewer first", "coalesce(e.name_words, TOP)", 8),
    ("its kind's prominence: a mall first", "coalesce(array_position(%(prominence)s::text[], e.detail), TOP)", 5),
    ("its names' length", "least(char_length(e.name_ar_folded) + char_length(e.name_en_folded), TOP)", 12),
)


def _rank_sql(fields: tuple[tuple[str, str, int], ...]) -> str:
    shift, terms = 0, []
    for _key, value, width in reversed(fields):
        top = 2**width - 1
        terms.append(f"(({value.replace('TOP', str(top))})::bigint << {shift})")
        shift += width
    return "\n      + ".join(reversed(terms))


RANK = _rank_sql(RANK_FIELDS)
# Where the two first keys lie in the rank: a key asked whole, a name that is the query (each 0 where it is).
NAMED_EXACTLY_SHIFT = sum(width for _key, _value, width in RANK_FIELDS[2:])
RANK_BY_KEYS = f"rank >> {RANK_FIELDS[-1][2]}"

NAMES_FOUND = f"""
    SELECT layer, key, name_ar, name_en, detail, ST_X(ST_Transform(point, 4326)), ST_Y(ST_Transform(point, 4326)),
           rank >> {NAMED_EXACTLY_SHIFT} = 3 AS not_named_exactly
    FROM (
        SELECT e.layer, e.key, e.name_ar, e.name_en, e.detail, e.point, e.search_text,
               e.name_ar_folded, e.name_en_folded, {RANK} AS rank
        FROM (FOUND_ENTRIES) e
        ORDER BY rank, e.name_en COLLATE "C", e.key COLLATE "C"
        LIMIT %(ranked_by_likeness)s
    ) found
    ORDER BY {RANK_BY_KEYS},
             greatest(similarity(%(text)s, name_ar_folded), similarity(%(text)s, name_en_folded)) DESC,
             word_similarity(%(text)s, search_text) DESC, name_en, key
    LIMIT %(limit)s
"""  # noqa: S608 (our own SQL: the ranks and their order)
ENTRY_COLUMNS = """e.layer, e.key, e.name_ar, e.name_en, e.detail, e.point, e.search_text, e.name_ar_folded,
                   e.name_en_folded, e.name_ar_bare, e.name_words"""
# The entries holding the query's words. Through the trigram index: the entries holding each of the query's words
# hold every entry the conditions after keep, each of which holds every word of the query.
HOLDING_THE_WORDS = """
        HOLDING_EVERY_WORD
        AND (e.search_text LIKE %(containing)s OR EVERY_WORD)
        -- a street's or landmark's key (LM-00360) is an internal code, found by its own words ("00360"), not for
        -- holding the query inside one: "360" listed every landmark whose key ends in it (a key is in the index as
        -- it folds it: lower case, '-' a space)
        AND (e.layer NOT IN ('streets', 'landmarks') OR EVERY_WORD
             OR strpos(replace(e.search_text, translate(lower(e.key), '-', ' '), ' '), %(text)s) > 0
             OR translate(lower(e.key), '-', ' ') = %(text)s
             OR LIKE_THE_CORE)
"""
IN_THE_LAYERS = "(%(layers)s::text[] IS NULL OR e.layer = ANY(%(layers)s::text[]))"
# With the names like the query's core: those, not holding its words, apart. Likeness is the costliest test of an
# entry. One condition holding it in three places (to reach the candidates through the index, and beside each test of
# the words) had it worked out up to four times for each of 200,000 entries alike, the index's recheck repeating one
# ("Streeet": about 4 s, now 1.5 s); here once, as the recheck (and again only for the few that hold the words).
FOUND_ENTRIES = f"SELECT {ENTRY_COLUMNS} FROM layers_searchentry e WHERE ({HOLDING_THE_WORDS}) AND {IN_THE_LAYERS}"  # noqa: S608
FOUND_ENTRIES_OR_ALIKE = f"""
        {FOUND_ENTRIES}
        UNION ALL
        SELECT {ENTRY_COLUMNS} FROM layers_searchentry e
        WHERE LIKE_THE_CORE AND NOT coalesce(({HOLDING_THE_WORDS}), false) AND {IN_THE_LAYERS}
"""  # noqa: S608 (our own SQL)
# Likeness is for letters (a typo, another spelling), not numbers: 360 is not 36.
LIKE_THE_CORE = "%(core)s <%% e.search_text"
HAS_LETTERS = re.compile(r"[^0-9 ]")


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def names_found(*, query: str, limit: int, layers: list[str] | None = None) -> list[tuple]:
    """The entries named by ``query``, best first, as (layer, key, name_ar, name_en, detail, lon, lat), lon and lat
    in WGS 84. A query with nothing left once normalized (only diacritics, say) is refused. Where no name holds its
    words, they are read as meant: "Gulf Stret" is Gulf Street, "Street6" Street 6."""
    with transaction.atomic(), connection.cursor() as cursor:  # the threshold is this transaction's (<%)
        terms = _search_terms(cursor, query=query, limit=limit, layers=layers)
        rows = _names_run(cursor, terms)
        if not rows:  # a name holding each word would have been found
            meant = _words_meant(cursor, terms.text, kinds=layers is None or "streets" in layers)
            if meant != terms.text:
                terms = _search_terms(cursor, query=meant, limit=limit, layers=layers)
                rows = _names_run(cursor, terms)
        # names only like it come after every one holding its words, and are not looked for where one is it
        if len(rows) < limit and terms.likeness != "FALSE" and (not rows or rows[0][-1]):
            rows = _names_run(cursor, terms, by_likeness=True)
    return [row[:-1] for row in rows]


@dataclass(frozen=True)
class SearchTerms:
    text: str  # the query as the index folds it
    held: list[str]  # what an entry must hold: the query's words, or the query whole if it has none
    words: list[str]
    likeness: str  # LIKE_THE_CORE, or FALSE where the core has no letter
    parameters: dict


def _search_terms(cursor, *, query: str, limit: int, layers: list[str] | None) -> SearchTerms:
    cursor.execute(
        SEARCH_TERMS, {"query": query, "street_kinds": STREET_KIND_WORDS, "similarity": str(SEARCH_SIMILARITY)}
    )
    empty, _threshold, text, words, core = cursor.fetchone()
    if empty:
        raise InvalidInput("q: no letter or digit in it.", field="q")
    words = words or []
    held = words or [text]
    parameters = {
        **_word_parameters(held=held, words=words),
        "text": text,
        "joined": " ".join(words) if words else None,  # its words named without articles; none: "al"
        "containing": f"%{_like_escaped(text)}%",
        "starting": f"{_like_escaped(text)}%",
        "word_starting": f"% {_like_escaped(text)}%",
        "core": core,
        "limit": limit,
        "ranked_by_likeness": SEARCH_RANKED_BY_LIKENESS,
        "layers": layers,
        "prominence": [*STREET_PROMINENCE, *LANDMARK_PROMINENCE],
    }
    likeness = LIKE_THE_CORE if HAS_LETTERS.search(core) else "FALSE"
    return SearchTerms(text=text, held=held, words=words, likeness=likeness, parameters=parameters)


def _names_run(cursor, terms: SearchTerms, *, by_likeness: bool = False) -> list[tuple]:
    cursor.execute(
        _names_sql(held=terms.held, words=terms.words, likeness=terms.likeness, by_likeness=by_likeness),
        terms.parameters,
    )
    return cursor.fetchall()


def _words_meant(cursor, text: str, *, kinds: bool) -> str:
    """``text`` (folded) with its words that no name holds read as meant; as it was if it has none:
    - words joined by a comma, full stop or semicolon, apart ("station,block" is "station, block", a name's whole
      words): as written they were a word no name holds, and the query went to the likeness pass;
    - then a word of letters glued to a number, apart ("street6", "شارع4", "salmiya10"): as written it was like every
      name of the word's kind, and the number was lost in it ("Street6" listed streets "A4");
    - with ``kinds``, a word of letters that is a street's kind mistyped by a letter ("stret", "streeet", "شارغ",
      "الشاع"; glued, "stret6"), the kind: it made the rest of the query a name alike to every street ("Gulf Stret"
      found nothing, "Fez Stret" took 2 s among a million parcels' streets).
    A name holds a word as the first pass has it, anywhere: a kind less its first or last letter ("stree") is held.
    At most two statements: the joined words looked up, then the others."""
    joined = {word: INNER_PUNCTUATION.sub(lambda mark: f"{mark.group()} ", word) for word in QUERY_WORD.findall(text)}
    held = _held_by_names(cursor, [word for word, apart in joined.items() if apart != word])
    text = QUERY_WORD.sub(lambda match: match.group() if match.group() in held else joined[match.group()], text)
    readings = {}  # each word that may be read otherwise: (it apart from its number, its reading as a kind)
    for word in dict.fromkeys(QUERY_WORD.findall(text)):
        glued = GLUED_NUMBER.fullmatch(word)
        apart = f"{glued['letters']} {glued['number']}{glued['stop']}" if glued else word
        kind = _kind_mistyped(glued["letters"] if glued else word) if kinds else None
        if kind and glued:
            kind = (kind[0], f"{kind[1]} {glued['number']}{glued['stop']}")
        if apart != word or kind:
            readings[word] = (apart, kind)
    looked_up = []
    for word, (apart, kind) in readings.items():
        looked_up += ([word] if apart != word else []) + ([kind[0]] if kind else [])
    held = _held_by_names(cursor, looked_up)

    def meant(match: re.Match) -> str:
        word = match.group()
        if word not in readings:
            return word
        apart, kind = readings[word]
        if apart != word and word in held:
            return word
        if kind and kind[0] not in held:
            return kind[1]
        return apart

    return QUERY_WORD.sub(meant, text)


def _kind_mistyped(word: str) -> tuple[str, str] | None:
    """(the word less its article, the kind with its article and stop) where ``word`` is of letters (and a comma or
    full stop after them) and a street's kind mistyped by a letter; None where it is not."""
    stop = word[len(word.rstrip(STOPS)) :]  # "stret," before the next word
    word = word.removesuffix(stop)
    article, bare = ("ال", word[2:]) if word.startswith("ال") and len(word) > 3 else ("", word)
    kind = next((kind for kind in STREET_KINDS_MISTYPED if _one_letter_off(bare, kind)), None)
    return (bare, article + kind + stop) if kind is not None and bare.isalpha() else None


def _one_letter_off(word: str, other: str) -> bool:
    """Whether ``word`` is ``other`` with one letter added, left out or changed, or two side by side swapped."""
    if word == other or abs(len(word) - len(other)) > 1:
        return False
    start = next((i for i, (a, b) in enumerate(zip(word, other, strict=False)) if a != b), min(len(word), len(other)))
    rest, other_rest = word[start:], other[start:]
    swapped = len(rest) >= 2 and rest[1] + rest[0] + rest[2:] == other_rest
    return rest[1:] in (other_rest[1:], other_rest) or rest == other_rest[1:] or swapped


def _held_by_names(cursor, words: list[str]) -> set[str]:
    """Those of ``words`` that some name holds, anywhere in it, in one statement; those past the first
    ``WORDS_MEANT_LOOKED_UP`` are held, unasked (a hostile query of 100 characters has 20 words or more)."""
    words = list(dict.fromkeys(words))  # as _word_parameters numbers them
    words, unasked = words[:WORDS_MEANT_LOOKED_UP], words[WORDS_MEANT_LOOKED_UP:]
    if not words:
        return set(unasked)
    each = ", ".join(
        f"EXISTS (SELECT FROM layers_searchentry WHERE search_text LIKE %(held_{i})s)" for i in range(len(words))
    )
    patterns = _word_parameters(held=words, words=[])  # held_0, held_1…: each word anywhere, as LIKE holds it
    cursor.execute(f"SELECT {each}", patterns)  # noqa: S608 (our own SQL: a condition for each word)
    return {word for word, is_held in zip(words, cursor.fetchone(), strict=True) if is_held} | set(unasked)


def _word_parameters(*, held: list[str], words: list[str]) -> dict[str, str]:
    """Each distinct word the entries must hold (the query's words, or the query whole if it has none), as LIKE holds
    it anywhere; each distinct word of the query as it starts a word of the entry, with its article or without."""
    parameters = {f"held_{index}": f"%{_like_escaped(word)}%" for index, word in enumerate(dict.fromkeys(held))}
    for index, word in enumerate(dict.fromkeys(words)):
        parameters[f"word_{index}"] = f" {word}"
        parameters[f"article_word_{index}"] = f" ال{word}"
        parameters[f"slash_word_{index}"] = f"/{word}"
        parameters[f"slash_article_word_{index}"] = f"/ال{word}"
    return parameters


def _names_sql(*, held: list[str], words: list[str], likeness: str, by_likeness: bool = False) -> str:
    """NAMES_FOUND for these words, each a condition of its own, which the planner reads as a constant and the
    trigram index serves (an array of words unnested in each entry cost a subquery an entry); with the names found
    only by likeness (``likeness``, or FALSE) ``by_likeness``."""
    holding = " AND ".join(f"e.search_text LIKE %(held_{i})s" for i in range(len(dict.fromkeys(held))))
    index = {word: position for position, word in enumerate(dict.fromkeys(words))}
    # every word of the query, in any order ("شارع 5 السالمية", "Salmiya block 10"), each at the start of a word of
    # the entry ("al" is in "hospital": no match). A word starts the index's text or follows a space or '/' (its
    # hyphens are spaces: geoportal_search_normalize).
    every_word = " AND ".join(
        f"(strpos(' ' || e.search_text, %(word_{i})s) > 0 OR strpos(' ' || e.search_text, %(article_word_{i})s) > 0"
        f" OR strpos(e.search_text, %(slash_word_{i})s) > 0 OR strpos(e.search_text, %(slash_article_word_{i})s) > 0)"
        for i in index.values()
    )
    names_holding = " + ".join(  # each word of the query as often as it is written, as its words were counted
        f"(strpos(' ' || e.name_ar_folded, %(word_{index[word]})s) > 0"
        f" OR strpos(' ' || e.name_ar_folded, %(article_word_{index[word]})s) > 0"
        f" OR strpos(' ' || e.name_en_folded, %(word_{index[word]})s) > 0)::int"
        for word in words
    )
    sql = NAMES_FOUND.replace("FOUND_ENTRIES", FOUND_ENTRIES_OR_ALIKE if by_likeness else FOUND_ENTRIES)
    sql = sql.replace("HOLDING_EVERY_WORD", f"({holding})")
    sql = sql.replace("LIKE_THE_CORE", likeness)
    sql = sql.replace("EVERY_WORD", f"({every_word})" if every_word else "FALSE")
    return sql.replace("NAMES_HOLDING", f"({names_holding})" if names_holding else "0")
