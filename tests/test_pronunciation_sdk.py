"""The repository's SDK (sdk/src/outeai) and the pronunciation endpoints: the sync client through
Django's WSGI handler, the async client through the ASGI application, both in this process against
the real database (no engine: the dictionary needs none)."""

import asyncio

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from outeai import AsyncOuteAI, OuteAI, OuteAIAPIError, OuteAIError

from accounts.services import token_create
from voices.models import PronunciationRule


@pytest.fixture
def wsgi_in_test_transaction():
    """Django's handler, kept from closing the test's connection after each request (as Django's
    own test client keeps it)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield httpx.WSGITransport(app=WSGIHandler())
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_the_sync_client_lists_creates_imports_exports_and_deletes(user, other_user, wsgi_in_test_transaction):
    secret = token_create(user=user, name="sdk")[1]
    transport = wsgi_in_test_transaction
    with OuteAI(secret, base_url="http://testserver", http_client=httpx.Client(transport=transport)) as client:
        rule = client.create_pronunciation("Zorblax", alias="door bell")
        assert rule["match"] == "Zorblax" and rule["alias"] == "door bell" and rule["shared"] is False
        ipa = client.create_pronunciation("Nguyen", ipa="ŋwiən", case_sensitive=True)
        listing = client.list_pronunciations()
        assert [r["match"] for r in listing["pronunciations"]] == ["Nguyen", "Zorblax"]
        assert listing["quota"] == {"used": 2, "limit": 1000}

        csv_text = client.export_pronunciations(format="csv")
        assert "Nguyen,,ŋwiən,true,true" in csv_text
        pls_text = client.export_pronunciations()
        assert "<grapheme>Zorblax</grapheme>" in pls_text

        assert client.delete_pronunciation(ipa["pronunciation_id"]) == {
            "pronunciation_id": ipa["pronunciation_id"],
            "deleted": True,
        }
        assert client.import_pronunciations(csv_text, format="csv") == {"imported": 2}
        assert PronunciationRule.objects.get(owner=user, match="Nguyen").case_sensitive is True

        with pytest.raises(OuteAIAPIError) as refused:
            client.create_pronunciation("Zorblax", ipa="zorb!")
        assert refused.value.status_code == 400 and "“!”" in refused.value.message
        with pytest.raises(OuteAIAPIError) as refused:
            client.import_pronunciations(b"<lexicon><lexeme>", format="pls")
        assert refused.value.status_code == 400 and "not well-formed" in refused.value.message
        with pytest.raises(OuteAIError):
            client.create_pronunciation("Zorblax")  # neither alias nor ipa: refused before sending
        with pytest.raises(ValueError, match="pls, csv"):
            client.export_pronunciations(format="xlsx")

    stranger = token_create(user=other_user, name="sdk")[1]
    with OuteAI(stranger, base_url="http://testserver", http_client=httpx.Client(transport=transport)) as client:
        assert client.list_pronunciations()["pronunciations"] == []
        with pytest.raises(OuteAIAPIError) as refused:
            client.delete_pronunciation(rule["pronunciation_id"])
        assert refused.value.status_code == 404
    assert PronunciationRule.objects.filter(id=rule["pronunciation_id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_async_client_does_the_same():
    from config.asgi import application
    from tests.conftest import account_make

    user = account_make("async@example.com")
    secret = token_create(user=user, name="sdk")[1]

    async def run() -> tuple[dict, dict, str, dict]:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application))
        async with AsyncOuteAI(secret, base_url="http://testserver", http_client=http) as client:
            created = await client.create_pronunciation("Zorblax", alias="door bell", whole_word=False)
            listing = await client.list_pronunciations()
            exported = await client.export_pronunciations(format="csv")
            imported = await client.import_pronunciations(exported.replace("door bell", "doorbell"), format="csv")
            deleted = await client.delete_pronunciation(created["pronunciation_id"])
            return listing, imported, exported, deleted

    listing, imported, exported, deleted = asyncio.run(run())
    assert [(r["match"], r["whole_word"]) for r in listing["pronunciations"]] == [("Zorblax", False)]
    assert "Zorblax,door bell,,false,false" in exported
    assert imported == {"imported": 1} and deleted["deleted"] is True
    assert not PronunciationRule.objects.filter(owner=user).exists()
