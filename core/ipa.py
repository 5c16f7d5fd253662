"""IPA as people write it, checked against the sounds the voices read: for `<phoneme ph>`
(core/markup.py) and a pronunciation rule's IPA (core/pronunciation.py) alike."""

from __future__ import annotations

import unicodedata

IPA_MAX_CHARS = 200

# The sounds Piper's voices read: the letters, marks and modifiers of espeak-ng's IPA (the
# phoneme_id_map of a Piper voice, less its punctuation and digits). Anything else would be
# dropped without a word by the engine, so it is refused here with a message that names it.
IPA_CHARACTERS = frozenset(
    "abcdefhijklmnopqrstuvwxyz"
    "æçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʰʲ"
    "βεθχᵻⱱ"
    "ˈˌːˑ˞ˤ"  # stress, length, rhotacised, pharyngealised
    "\u0303\u0327\u0329\u032a\u032f"  # nasal, cedilla, syllabic, dental, non-syllabic
    " "
)
# What people type for espeak's sounds: ASCII g for ɡ, a colon for ː, the affricate ligatures.
IPA_SPELLINGS = {"g": "ɡ", ":": "ː", "'": "ˈ", "ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "ʣ": "dz", "\u0361": ""}


def ipa_clean(ipa: str) -> str:
    """``ipa`` as the engine reads it: composed, without /slashes/ or [brackets], the usual
    keyboard spellings replaced (g → ɡ, : → ː), spaces collapsed. ``ipa_problem`` says if it is
    still not IPA."""
    text = unicodedata.normalize("NFC", ipa).strip().strip("/[]").strip()
    text = "".join(IPA_SPELLINGS.get(char, char) for char in text)
    return " ".join(text.split())


def ipa_problem(ipa: str) -> str | None:
    """Why ``ipa`` (cleaned by ``ipa_clean``) is no pronunciation, for the person who wrote it;
    None when it is one."""
    if not ipa:
        return "The IPA is empty."
    if len(ipa) > IPA_MAX_CHARS:
        return f"The IPA is longer than {IPA_MAX_CHARS} characters."
    unknown = sorted({char for char in ipa if char not in IPA_CHARACTERS})
    if unknown:
        shown = ", ".join(f"“{char}” (U+{ord(char):04X})" for char in unknown[:5])
        return (
            f"Not IPA sounds the voices know: {shown}. Write the sounds in IPA letters, e.g. ˈzɔɹblæks "
            "(stress ˈ ˌ and length ː allowed; tʃ rather than ʧ)."
        )
    return None
