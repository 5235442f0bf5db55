"""Match keys of a child's record: one Latin form of the names, a phonetic code, the birth date.

A record written in Cyrillic on one side ("Ковальчук Олена Петрівна") and in Latin on the
other ("Kovalchuk Olena") must give the same key.  Both are reduced to one *canonical Latin*
form that the Ukrainian (KMU 2010) and Russian (BGN/PCGN, GOST, passport) transliterations of
the same Cyrillic name share: ``г`` and ``h`` both become ``g``, ``и``/``і``/``ї``/``й``/``ы``
and Latin ``y``/``j`` become ``i``, ``х`` is ``kh``, ``ц``/``c``/``tz`` are ``ts``, soft and hard
signs and apostrophes go, doubled letters are single.  The phonetic code then keeps only the
consonants by sound class (voiced and voiceless pairs together), so that Ukrainian and
Russian spellings of one name (Олександр / Александр, Дмитро / Дмитрий) meet as well.

Every key holds the birth date; without one a record gives no key (two children with the same
name are only told apart by it).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

KEY_KINDS: tuple[str, ...] = ("name", "phonetic", "family_place")
"""Kinds of keys a record may give, strongest first."""

DEFAULT_KINDS: tuple[str, ...] = ("name", "phonetic")
"""Kinds made unless others are asked for (``family_place`` needs the place of origin)."""

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "e", "ё": "e",
    "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
    "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "i", "ь": "", "э": "e",
    "ю": "iu", "я": "ia", "ў": "u",
}  # fmt: skip

# Latin spellings of one Cyrillic sound, in the order they are rewritten.
_LATIN_RULES: tuple[tuple[str, str], ...] = (
    ("x", "ks"),
    ("tch", "ch"),
    ("shch", "\x04"),  # protect the digraphs with an h before h -> g
    ("zh", "\x01"),
    ("ch", "\x02"),
    ("sh", "\x03"),
    ("kh", "\x00"),
    ("h", "g"),
    ("\x04", "shch"),
    ("\x01", "zh"),
    ("\x02", "ch"),
    ("\x03", "sh"),
    ("\x00", "kh"),
    ("w", "v"),
    ("tz", "ts"),
    ("c(?!h)", "ts"),
    ("q", "k"),
    ("[yj]", "i"),
    ("ie", "e"),  # є / е written ie or ye
    ("(.)\\1+", "\\1"),  # doubled letters
)
_COMPILED = tuple((re.compile(a), b) for a, b in _LATIN_RULES)

# Phonetic classes: digraphs first, then single letters; vowels dropped.
_PHONETIC_DIGRAPHS: tuple[tuple[str, str], ...] = (
    ("shch", "S"),
    ("zh", "S"),
    ("sh", "S"),
    ("ch", "C"),
    ("kh", "K"),
    ("ts", "C"),
)
_PHONETIC_LETTERS = str.maketrans(
    {"b": "P", "p": "P", "v": "F", "f": "F", "g": "K", "k": "K", "d": "T", "t": "T", "z": "Z", "s": "Z",
     "l": "L", "m": "M", "n": "N", "r": "R", "a": "", "e": "", "i": "", "o": "", "u": ""}
)  # fmt: skip


@lru_cache(maxsize=1 << 16)
def canonical_latin(text: str) -> str:
    """One Latin form of a name written in Cyrillic or in any Latin transliteration.

    Parameters
    ----------
    text
        A name (family, given or patronymic); Cyrillic, Latin with diacritics, or mixed.

    Returns
    -------
    str
        Lower-case ``a``-``z`` only; the empty string when nothing is left.

    Examples
    --------
    >>> canonical_latin("Ковальчук") == canonical_latin("Koval'chuk") == "kovalchuk"
    True
    >>> canonical_latin("Григорій") == canonical_latin("Hryhorii") == canonical_latin("Grigoriy")
    True
    """
    low = unicodedata.normalize("NFC", text).lower()
    latin = "".join(_CYRILLIC.get(ch, ch) for ch in low)
    plain = unicodedata.normalize("NFKD", latin)
    out = "".join(ch for ch in plain if "a" <= ch <= "z")
    for pattern, repl in _COMPILED:
        out = pattern.sub(repl, out)
    return out


def phonetic_code(text: str) -> str:
    """Consonant skeleton of a name by sound class (see the module doc).

    Examples
    --------
    >>> phonetic_code("Олександр") == phonetic_code("Aleksandr") == phonetic_code("Alexander")
    True
    """
    return _consonant_classes(canonical_latin(text))


@lru_cache(maxsize=1 << 16)
def _consonant_classes(s: str) -> str:
    for a, b in _PHONETIC_DIGRAPHS:
        s = s.replace(a, b)
    s = s.translate(_PHONETIC_LETTERS)
    return re.sub(r"(.)\1+", r"\1", s)


def record_keys(
    family: str,
    given: str,
    birth: date | None,
    place: str = "",
    kinds: tuple[str, ...] = DEFAULT_KINDS,
) -> dict[str, str]:
    """The match keys of one record, by kind (plain text; blind them before they leave).

    Parameters
    ----------
    family, given
        Family and given name, any script.
    birth
        Birth date; ``None`` gives no key.
    place
        Place of origin or last known place (for ``family_place``).
    kinds
        Which kinds to make (of :data:`KEY_KINDS`).

    Returns
    -------
    dict
        ``{kind: key}``; a kind whose parts are empty is left out.
    """
    if birth is None:
        return {}
    day = birth.isoformat()
    fam, giv, plc = canonical_latin(family), canonical_latin(given), canonical_latin(place)
    out: dict[str, str] = {}
    if "name" in kinds and fam and giv:
        out["name"] = f"name|{fam}|{giv}|{day}"
    if "phonetic" in kinds and fam and giv:
        out["phonetic"] = f"phonetic|{_consonant_classes(fam)}|{_consonant_classes(giv)}|{day}"
    if "family_place" in kinds and fam and plc:
        out["family_place"] = (
            f"family_place|{_consonant_classes(fam)}|{_consonant_classes(plc)}|{day}"
        )
    return out
