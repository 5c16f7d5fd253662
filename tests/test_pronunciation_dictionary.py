"""The pronunciation dictionary (issue 17): rules through the API and the Studio page, their checks,
PLS and CSV files, sharing with a team, and the rules a generation applies."""

import json

import pytest
from django.test import Client

from accounts.models import Scope
from accounts.services import team_create, team_leave, token_create
from core.markup import Said, markup_parse
from core.pronunciation import script_pronounce
from tests.conftest import account_make, team_join
from voices.models import PronunciationRule, PronunciationShare
from voices.selectors import pronunciation_rules_for_user

API = "/api/v1/pronunciations"
PAGE = "/studio/voices/pronunciations/"


def bearer(user, scopes=None) -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_create(user=user, name='t', scopes=scopes)[1]}"
    return client


def create(client: Client, **rule):
    return client.post(API, json.dumps(rule), content_type="application/json")


def refused(response, status: int = 400, code: str = "VALIDATION_ERROR") -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == code, body
    return body["message"]


def said_for(user, text: str) -> list[str]:
    """What a generation of ``user`` says for ``text`` (the pipeline's pronunciation step)."""
    script = script_pronounce(markup_parse(text), pronunciation_rules_for_user(user=user))
    return [piece.text for piece in script if isinstance(piece, Said)]


@pytest.fixture
def api(user) -> Client:
    return bearer(user)


# ---------- the API ----------


def test_a_rule_is_made_listed_applied_and_deleted(api, user):
    response = create(api, match="Zorblax", alias="door bell")
    assert response.status_code == 201, response.content
    rule = response.json()["data"]
    assert rule["match"] == "Zorblax" and rule["alias"] == "door bell" and rule["ipa"] is None
    assert rule["whole_word"] is True and rule["case_sensitive"] is False and rule["shared"] is False

    listed = api.get(API).json()["data"]
    assert [r["pronunciation_id"] for r in listed["pronunciations"]] == [rule["pronunciation_id"]]
    assert listed["quota"] == {"used": 1, "limit": 1000}
    assert said_for(user, "Ask zorblax now.") == ["Ask ", "door bell", " now."]

    deleted = api.delete(f"{API}/{rule['pronunciation_id']}")
    assert deleted.json() == {"success": True, "data": {"pronunciation_id": rule["pronunciation_id"], "deleted": True}}
    assert api.get(API).json()["data"]["pronunciations"] == []
    assert said_for(user, "Ask zorblax now.") == ["Ask zorblax now."]


def test_ipa_is_cleaned_and_kept_with_the_written_word(api, user):
    response = create(api, match="Nguyen", ipa="/ŋwiən/", case_sensitive=True)
    assert response.status_code == 201
    assert response.json()["data"]["ipa"] == "ŋwiən"
    script = script_pronounce(markup_parse("Hi Nguyen"), pronunciation_rules_for_user(user=user))
    assert script[1] == Said("Nguyen", 3, 9, ipa="ŋwiən")


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"match": "Zorblax"}, "either an alias"),
        ({"match": "Zorblax", "alias": "door", "ipa": "dɔɹ"}, "not both"),
        ({"match": "Zorblax", "ipa": "zorb1ax!"}, "“!”"),
        ({"match": "Zorblax", "ipa": "ZORBLAX"}, "Not IPA sounds"),
        ({"match": "x" * 101, "alias": "door"}, "1 to 100 characters"),
        ({"match": "   ", "alias": "door"}, "1 to 100 characters"),
        ({"match": "Zorblax", "alias": "d" * 201}, "1 to 200"),
        ({"match": "Zorblax", "alias": "bad\x00nul"}, "printable"),
        ({"match": "Zorblax", "alias": "door", "whole_word": "yes"}, "whole_word"),
        ({"match": 5, "alias": "door"}, "match"),
    ],
)
def test_bad_rules_get_a_clear_400_and_nothing_is_kept(api, rule, says):
    message = refused(create(api, **rule))
    assert says in message, message
    assert not PronunciationRule.objects.exists()


def test_a_second_rule_of_a_match_and_one_past_the_limit_are_refused(api, user, monkeypatch):
    assert create(api, match="Zorblax", alias="door bell").status_code == 201
    assert "already have a rule" in refused(create(api, match="Zorblax", alias="bell"))
    monkeypatch.setattr("voices.services.PRONUNCIATION_RULES_LIMIT", 2)
    assert create(api, match="Quux", alias="cooks").status_code == 201
    assert "at most 2 rules" in refused(create(api, match="Blip", alias="blip"))
    assert PronunciationRule.objects.filter(owner=user).count() == 2


def test_the_endpoints_need_the_speech_scope(user):
    voices_only = bearer(user, scopes=[Scope.VOICES])
    refused(voices_only.get(API), 403, "FORBIDDEN")
    refused(create(voices_only, match="Zorblax", alias="door bell"), 403, "FORBIDDEN")
    refused(Client().get(API), 401, "UNAUTHORIZED")
    assert not PronunciationRule.objects.exists()


# ---------- isolation and sharing ----------


def test_a_stranger_sees_and_deletes_nothing(api, user, other_user):
    rule_id = create(api, match="Zorblax", alias="door bell").json()["data"]["pronunciation_id"]
    stranger = bearer(other_user)
    assert stranger.get(API).json()["data"]["pronunciations"] == []
    refused(stranger.delete(f"{API}/{rule_id}"), 404, "NOT_FOUND")
    assert b"Zorblax" not in stranger.get(f"{API}/export?format=csv").content
    assert PronunciationRule.objects.filter(id=rule_id).exists()
    assert said_for(other_user, "Zorblax") == ["Zorblax"]


def test_a_shared_dictionary_reaches_members_while_both_are_in_the_team(user, other_user):
    member = account_make("member@example.com")
    team = team_create(owner=user, name="Crew")
    team_join(team, owner=user, member=member)
    sharer = account_make("sharer@example.com")
    team_join(team, owner=user, member=sharer)
    sharers_api, members_api = bearer(sharer), bearer(member)
    rule_id = create(sharers_api, match="Zorblax", alias="door bell").json()["data"]["pronunciation_id"]
    assert said_for(member, "Zorblax") == ["Zorblax"]  # not shared yet

    page = Client()
    page.force_login(sharer)
    assert page.post(f"{PAGE}share", {"team_id": str(team.id), "action": "share"}).status_code == 302
    assert said_for(member, "Zorblax") == ["door bell"]
    listed = members_api.get(API).json()["data"]
    assert [(r["match"], r["shared"]) for r in listed["pronunciations"]] == [("Zorblax", True)]
    assert listed["quota"]["used"] == 0
    # The member's own rule of the same match wins over the shared one.
    create(members_api, match="zorblax", alias="zebra")
    assert said_for(member, "Zorblax") == ["zebra"]
    # A member uses a shared rule but may not delete it.
    refused(members_api.delete(f"{API}/{rule_id}"), 404, "NOT_FOUND")
    assert PronunciationRule.objects.filter(id=rule_id).exists()
    assert said_for(other_user, "Zorblax") == ["Zorblax"]  # a stranger: nothing

    team_leave(team=team, user=member)
    assert [r["match"] for r in members_api.get(API).json()["data"]["pronunciations"]] == ["zorblax"]
    assert said_for(member, "Zorblax") == ["zebra"]
    # The sharer leaving ends it for the members who stay.
    assert said_for(user, "Zorblax") == ["door bell"]
    team_leave(team=team, user=sharer)
    assert said_for(user, "Zorblax") == ["Zorblax"]


def test_a_dictionary_is_shared_only_with_a_team_of_ones_own(user, other_user):
    theirs = team_create(owner=other_user, name="Not yours")
    page = Client()
    page.force_login(user)
    response = page.post(f"{PAGE}share", {"team_id": str(theirs.id), "action": "share"})
    assert response.status_code == 404
    assert not PronunciationShare.objects.exists()


# ---------- files ----------

PLS = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>Zorblax</grapheme><grapheme>Zorblaxes</grapheme><alias>door bell</alias></lexeme>
  <lexeme><grapheme>Nguyen</grapheme><phoneme>ŋwiən</phoneme></lexeme>
</lexicon>"""

EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<lexicon><lexeme><grapheme>&e;</grapheme><alias>a</alias></lexeme></lexicon>"
)
ENTITY_EXPANSION = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    "<lexicon><lexeme><grapheme>&b;</grapheme><alias>a</alias></lexeme></lexicon>"
)


def import_file(client: Client, content: str | bytes, content_type: str):
    return client.post(f"{API}/import", content, content_type=content_type)


def test_pls_is_imported_and_exported(api, user):
    response = import_file(api, PLS, "application/pls+xml")
    assert response.json() == {"success": True, "data": {"imported": 3}}
    assert said_for(user, "Zorblaxes meet Nguyen") == ["door bell", " meet ", "Nguyen"]
    exported = api.get(f"{API}/export?format=pls")
    assert exported["Content-Type"].startswith("application/pls+xml")
    assert 'attachment; filename="pronunciations.pls"' in exported["Content-Disposition"]
    PronunciationRule.objects.all().delete()
    assert import_file(api, exported.content, "application/pls+xml").json()["data"]["imported"] == 3
    assert sorted(PronunciationRule.objects.values_list("match", "alias", "ipa")) == [
        ("Nguyen", "", "ŋwiən"),
        ("Zorblax", "door bell", ""),
        ("Zorblaxes", "door bell", ""),
    ]


def test_csv_round_trips_every_option_and_defuses_formulas(api, user):
    create(api, match="=cmd|'/c calc'!A1", alias="-2+3", case_sensitive=True, whole_word=False)
    create(api, match="Nguyen", ipa="ŋwiən")
    exported = api.get(f"{API}/export?format=csv")
    assert exported["Content-Type"].startswith("text/csv")
    text = exported.content.decode()
    assert text.splitlines()[0] == "match,alias,ipa,case_sensitive,whole_word"
    # A spreadsheet would run a cell starting with = + - @: each is written behind an apostrophe.
    assert "'=cmd" in text and "'-2+3" in text
    before = sorted(PronunciationRule.objects.values_list("match", "alias", "ipa", "case_sensitive", "whole_word"))
    PronunciationRule.objects.all().delete()
    assert import_file(api, exported.content, "text/csv").json()["data"]["imported"] == 2
    after = sorted(PronunciationRule.objects.values_list("match", "alias", "ipa", "case_sensitive", "whole_word"))
    assert after == before


@pytest.mark.parametrize(
    ("content", "content_type", "says"),
    [
        ("<lexicon><lexeme><grapheme>x", "application/pls+xml", "line 1"),
        (EXTERNAL_ENTITY, "application/pls+xml", "DTD"),
        (ENTITY_EXPANSION, "application/pls+xml", "DTD"),
        ("<lexicon><lexeme><grapheme>x</grapheme></lexeme></lexicon>", "application/pls+xml", "Lexeme 1"),
        (
            '<lexicon alphabet="x-sampa"><lexeme><grapheme>x</grapheme><phoneme>z</phoneme></lexeme></lexicon>',
            "application/pls+xml",
            "x-sampa",
        ),
        ("<html/>", "application/pls+xml", "<lexicon>"),
        ("match,alias\nZorblax,door bell\nQuux,\n", "text/csv", "Rule 2 (“Quux”)"),
        ("match,ipa\nZorblax,zorb!\n", "text/csv", "Rule 1"),
        ("match,alias,whole_word\nZorblax,door,maybe\n", "text/csv", "Row 2, whole_word"),
        ("word,alias\nZorblax,door\n", "text/csv", "columns"),
        ("match,alias,colour\nZorblax,door,red\n", "text/csv", "colour"),
        (b"match,alias\n\xff\xfe,x\n", "text/csv", "UTF-8"),
        ("match,alias\n", "text/csv", "no rules"),
        ("match,alias\nZorblax,door bell\n", "application/json", "Content-Type"),
    ],
)
def test_bad_files_are_refused_whole_and_named(api, content, content_type, says):
    message = refused(import_file(api, content, content_type))
    assert says in message, message
    assert not PronunciationRule.objects.exists()


def test_an_import_replaces_rules_of_the_same_match_and_keeps_the_limit(api, user, monkeypatch):
    create(api, match="Zorblax", alias="zebra")
    assert import_file(api, "match,alias\nZorblax,door bell\n", "text/csv").json()["data"]["imported"] == 1
    assert list(PronunciationRule.objects.values_list("match", "alias")) == [("Zorblax", "door bell")]
    monkeypatch.setattr("voices.services.PRONUNCIATION_RULES_LIMIT", 2)
    message = refused(import_file(api, "match,alias\nA,a\nB,b\nZorblax,d\n", "text/csv"))
    assert "would hold 3" in message
    assert PronunciationRule.objects.count() == 1


def test_a_file_over_a_megabyte_is_refused(api):
    big = "match,alias\n" + "Zorblax,door bell\n" * 70_000
    refused(import_file(api, big, "text/csv"), 413, "PAYLOAD_TOO_LARGE")
    assert not PronunciationRule.objects.exists()


# ---------- the Studio page ----------


@pytest.fixture
def page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_adds_lists_and_deletes_rules(page, user, builtin_voices):
    response = page.post(f"{PAGE}new", {"match": "Zorblax", "kind": "alias", "says": "door bell", "whole_word": "on"})
    assert response.status_code == 302
    listing = page.get(PAGE).content.decode()
    assert "Zorblax" in listing and "door bell" in listing and "Hear it" in listing
    assert "EN-FEMALE-1-NEUTRAL" in listing  # the voice to hear it in
    rule = PronunciationRule.objects.get(owner=user)
    assert rule.whole_word and not rule.case_sensitive
    assert page.post(f"{PAGE}{rule.id}/delete").status_code == 302
    assert not PronunciationRule.objects.exists()


def test_the_page_says_what_is_wrong_and_keeps_what_was_typed(page):
    response = page.post(f"{PAGE}new", {"match": "Zorblax", "kind": "ipa", "says": "zorb1ax"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Not IPA sounds" in text and 'value="Zorblax"' in text and 'value="zorb1ax"' in text
    assert not PronunciationRule.objects.exists()


def test_the_page_imports_and_exports_files(page, user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("lexicon.pls", PLS.encode(), content_type="application/pls+xml")
    assert page.post(f"{PAGE}import", {"file": upload}).status_code == 302
    assert PronunciationRule.objects.filter(owner=user).count() == 3
    exported = page.get(f"{PAGE}export?format=csv")
    assert exported.status_code == 200 and "Nguyen,,ŋwiən,false,true" in exported.content.decode()
    bad = SimpleUploadedFile("lexicon.txt", b"hello")
    response = page.post(f"{PAGE}import", {"file": bad})
    assert response.status_code == 400 and "Import a .pls or a .csv file." in response.content.decode()


def test_every_form_of_the_page_needs_its_csrf_token(user, builtin_voices):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    team = team_create(owner=user, name="Crew")
    for path, data in [
        ("new", {"match": "Zorblax", "kind": "alias", "says": "door bell"}),
        ("share", {"team_id": str(team.id), "action": "share"}),
        ("import", {"file": ""}),
    ]:
        assert client.post(f"{PAGE}{path}", data).status_code == 403, path
    assert not PronunciationRule.objects.exists() and not PronunciationShare.objects.exists()
    page = client.get(PAGE).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 4  # new rule, share, import, sign out


def test_the_nav_links_the_page(page):
    assert f'href="{PAGE}"' in page.get("/account/").content.decode()


def test_the_admin_edits_rules_with_the_same_checks(user, admin_client):
    rule = PronunciationRule.objects.create(owner=user, match="Zorblax", alias="door bell")
    url = f"/admin/voices/pronunciationrule/{rule.id}/change/"
    assert admin_client.get(url).status_code == 200
    form = {"owner": str(user.id), "match": "Zorblax", "alias": "", "ipa": "zorb!", "whole_word": "on"}
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "Not IPA sounds" in response.content.decode()
    assert admin_client.post(url, {**form, "ipa": "/ˈzɔɹblæks/"}).status_code == 302
    rule.refresh_from_db()
    assert (rule.alias, rule.ipa) == ("", "ˈzɔɹblæks")
