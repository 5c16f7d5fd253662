"""A pronunciation dictionary as a file: PLS (the W3C Pronunciation Lexicon Specification 1.0) and
CSV (match,alias,ipa,case_sensitive,whole_word), read and written. Pure: what a file says, as
core.pronunciation rules, checked afterwards by voices.services like any rule."""

import csv
import io
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from core.pronunciation import PronunciationRule

PLS_NAMESPACE = "http://www.w3.org/2005/01/pronunciation-lexicon"
CSV_COLUMNS = ["match", "alias", "ipa", "case_sensitive", "whole_word"]
FILE_MAX_BYTES = 1024 * 1024  # some thousands of rules; more than an account may keep
# A spreadsheet runs a cell that begins with one of these as a formula: written with a leading
# apostrophe (which a spreadsheet hides), read back without it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class PronunciationFileError(ValueError):
    """A file that is not a dictionary: the message says what and where."""


def _local(tag: object) -> str:
    # A tag with its namespace, "{http://...}lexeme", read as "lexeme"; files without it too.
    return str(tag).rpartition("}")[2]


def pls_parse(content: bytes) -> list[PronunciationRule]:
    """The rules of a PLS lexicon: each <grapheme> of a <lexeme> said as its first <alias> or
    <phoneme> (IPA, the lexicon's alphabet unless the phoneme names its own). External entities,
    DTDs and entity expansion are refused (defusedxml)."""
    try:
        root = fromstring(content, forbid_dtd=True)
    except ParseError as error:
        line, column = error.position
        raise PronunciationFileError(f"The PLS file is not well-formed XML (line {line}, column {column}).") from None
    except DefusedXmlException:
        raise PronunciationFileError("The PLS file declares a DTD or entities; they are not accepted.") from None
    if _local(root.tag) != "lexicon":
        raise PronunciationFileError("A PLS file's root element is <lexicon>.")
    alphabet = root.get("alphabet", "ipa")
    rules = []
    for number, lexeme in enumerate((child for child in root if _local(child.tag) == "lexeme"), start=1):
        graphemes = [(child.text or "").strip() for child in lexeme if _local(child.tag) == "grapheme"]
        says = next((child for child in lexeme if _local(child.tag) in {"alias", "phoneme"}), None)
        if not any(graphemes) or says is None:
            raise PronunciationFileError(f"Lexeme {number} needs a <grapheme> and an <alias> or a <phoneme>.")
        if _local(says.tag) == "phoneme" and says.get("alphabet", alphabet).lower() != "ipa":
            raise PronunciationFileError(
                f'Lexeme {number}: only alphabet="ipa" is read, not {says.get("alphabet", alphabet)!r}.'
            )
        text = (says.text or "").strip()
        for grapheme in filter(None, graphemes):
            if _local(says.tag) == "alias":
                rules.append(PronunciationRule(grapheme, alias=text))
            else:
                rules.append(PronunciationRule(grapheme, ipa=text))
    return rules


def pls_render(rules: list[PronunciationRule], *, language: str = "en-US") -> str:
    """The rules as a PLS lexicon (IPA). PLS has no case or word-boundary options: they are kept
    in CSV."""
    root = Element("lexicon", {"version": "1.0", "xmlns": PLS_NAMESPACE, "alphabet": "ipa", "xml:lang": language})
    for rule in rules:
        lexeme = SubElement(root, "lexeme")
        SubElement(lexeme, "grapheme").text = rule.match
        if rule.alias:
            SubElement(lexeme, "alias").text = rule.alias
        else:
            SubElement(lexeme, "phoneme").text = rule.ipa
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode") + "\n"


def _csv_bool(value: str, *, default: bool, row: int, column: str) -> bool:
    value = value.strip().lower()
    if not value:
        return default
    if value in {"true", "yes", "1"}:
        return True
    if value in {"false", "no", "0"}:
        return False
    raise PronunciationFileError(f"Row {row}, {column}: write true or false, not {value!r}.")


def _csv_cell_read(value: str | None) -> str:
    value = (value or "").strip()
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def _csv_cell_write(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def csv_parse(content: bytes) -> list[PronunciationRule]:
    """The rules of a CSV file with a header row: `match` and `alias` or `ipa`, and optionally
    `case_sensitive` and `whole_word` (true/false; false and true without them)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PronunciationFileError("The CSV file is not UTF-8 text.") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [name.strip().lower() for name in reader.fieldnames or []]
        if "match" not in columns or not {"alias", "ipa"} & set(columns):
            raise PronunciationFileError("The CSV file's first row names its columns: match,alias,ipa,… .")
        unknown = [name for name in columns if name not in CSV_COLUMNS]
        if unknown:
            raise PronunciationFileError(f"Unknown CSV column {unknown[0]!r}: use {','.join(CSV_COLUMNS)}.")
        reader.fieldnames = columns
        rules = []
        for row_number, row in enumerate(reader, start=2):
            if None in row:  # more cells than columns
                raise PronunciationFileError(f"Row {row_number} has more cells than the header.")
            cells = {name: _csv_cell_read(row.get(name)) for name in CSV_COLUMNS}
            if not any(cells.values()):
                continue  # a blank line
            rules.append(
                PronunciationRule(
                    cells["match"],
                    alias=cells["alias"] or None,
                    ipa=cells["ipa"] or None,
                    case_sensitive=_csv_bool(
                        cells["case_sensitive"], default=False, row=row_number, column="case_sensitive"
                    ),
                    whole_word=_csv_bool(cells["whole_word"], default=True, row=row_number, column="whole_word"),
                )
            )
    except csv.Error as error:
        raise PronunciationFileError(f"The CSV file cannot be read: {error}.") from None
    return rules


def csv_render(rules: list[PronunciationRule]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for rule in rules:
        writer.writerow(
            [
                _csv_cell_write(rule.match),
                _csv_cell_write(rule.alias or ""),
                _csv_cell_write(rule.ipa or ""),
                str(rule.case_sensitive).lower(),
                str(rule.whole_word).lower(),
            ]
        )
    return out.getvalue()


def rules_parse(content: bytes, *, file_format: str) -> list[PronunciationRule]:
    """A file's rules, ``file_format`` "pls" or "csv"."""
    if len(content) > FILE_MAX_BYTES:
        raise PronunciationFileError("The file is larger than 1 MB.")
    if file_format == "pls":
        return pls_parse(content)
    if file_format == "csv":
        return csv_parse(content)
    raise PronunciationFileError("Import a .pls or a .csv file.")


def rules_render(rules: list[PronunciationRule], *, file_format: str) -> str:
    if file_format == "pls":
        return pls_render(rules)
    if file_format == "csv":
        return csv_render(rules)
    raise PronunciationFileError("Export as pls or csv.")
