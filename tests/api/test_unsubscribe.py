"""Signed unsubscribe links: the headers, the token, the localized page, RFC 8058 one-click."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import Engine

from followthrough.models.vocab import Category, Channel
from followthrough.settings import MissingSecret, Settings
from followthrough.unsubscribe import (
    BadUnsubscribeToken,
    make_token,
    read_token,
    unsubscribe_headers,
    unsubscribe_url,
)
from tests.support.factories import create_contact

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def path(settings: Settings, cid: int, category: Category = Category.MARKETING) -> str:
    return unsubscribe_url(settings, cid, Channel.EMAIL, category).removeprefix(settings.public_base_url)


async def email_consent(api: httpx.AsyncClient, cid: int) -> dict[str, bool]:
    return (await api.get(f"/v1/contacts/{cid}/preferences")).json()["consent"]["email"]


class TestTokens:
    def test_headers_are_exact(self, settings: Settings) -> None:
        token = make_token(settings, 7, Channel.EMAIL, Category.MARKETING)
        assert unsubscribe_headers(settings, 7, Category.MARKETING) == {
            "List-Unsubscribe": f"<http://testserver/u/{token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def test_round_trip(self, settings: Settings) -> None:
        token = make_token(settings, 7, Channel.SMS, Category.SALES)
        assert read_token(settings, token) == (7, Channel.SMS, Category.SALES)

    def test_another_key_or_a_tampered_token_is_refused(self, settings: Settings) -> None:
        token = make_token(settings, 7, Channel.EMAIL, Category.SALES)
        other = settings.model_copy(update={"secret_key": "another-key"})
        for bad_settings, bad_token in ((other, token), (settings, token[:-2] + "xx"), (settings, "nope")):
            with pytest.raises(BadUnsubscribeToken, match="not valid"):
                read_token(bad_settings, bad_token)


    def test_the_admin_key_does_not_sign_links(self, settings: Settings) -> None:
        no_secret = settings.model_copy(update={"secret_key": ""})
        with pytest.raises(MissingSecret, match="FT_SECRET_KEY is not set"):
            make_token(no_secret, 7, Channel.EMAIL, Category.SALES)


class TestRotation:
    """FT_SECRET_KEY lists keys newest first: the first signs, every one verifies."""

    def test_the_newest_key_signs(self, settings: Settings) -> None:
        rotated = settings.model_copy(update={"secret_key": "new-key-0123456789, " + settings.secret_key})
        only_new = settings.model_copy(update={"secret_key": "new-key-0123456789"})
        token = make_token(rotated, 7, Channel.EMAIL, Category.SALES)
        assert token == make_token(only_new, 7, Channel.EMAIL, Category.SALES)
        assert token != make_token(settings, 7, Channel.EMAIL, Category.SALES)

    async def test_an_old_link_opens_the_page_after_rotation_and_a_foreign_one_is_refused(
        self, api: httpx.AsyncClient, settings: Settings, engine: Engine
    ) -> None:
        from api.app import create_app

        cid = (await create_contact(api, name="Old Link"))["id"]
        old_link = path(settings, cid)
        foreign = settings.model_copy(update={"secret_key": "someone-elses-key-0123"})
        rotated = settings.model_copy(update={"secret_key": "new-key-0123456789," + settings.secret_key})
        transport = httpx.ASGITransport(app=create_app(rotated, engine=engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            opened = await client.get(old_link)
            assert opened.status_code == 200
            assert "Old Link" in opened.text
            assert (await client.get(path(rotated, cid))).status_code == 200
            refused = await client.get(path(foreign, cid))
            assert (refused.status_code, refused.headers["content-type"]) == (404, "text/html; charset=utf-8")
            assert "This link does not work" in refused.text


class TestPage:
    async def test_get_shows_the_page_and_changes_nothing(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        cid = (await create_contact(api, name="Anna <b>Test</b>"))["id"]
        response = await api.get(path(settings, cid), headers={"Authorization": ""})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "Anna &lt;b&gt;Test&lt;/b&gt;" in response.text
        assert "Unsubscribe from “News and promotions”" in response.text
        assert f'action="{path(settings, cid)}"' in response.text
        assert all((await email_consent(api, cid)).values())

    async def test_russian_contact_gets_the_russian_page(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        cid = (await create_contact(api, locale="ru-RU"))["id"]
        response = await api.get(path(settings, cid))
        assert '<html lang="ru">' in response.text
        assert "Отписаться от рассылки «Новости и акции»" in response.text
        assert re.search("[А-Яа-яЁё]", response.text)

    @pytest.mark.parametrize(("fields", "greeting"), [
        ({"name": "Kovács Anna"}, "<p>Kedves Kovács Anna! Ezekről írunk Önnek:</p>"),
        ({"name": "Kovács Anna", "given_name": "Anna"}, "<p>Kedves Anna! Ezekről írunk Önnek:</p>"),
        ({"name": ""}, "<p>Üdvözöljük! Ezekről írunk Önnek:</p>"),
    ])
    async def test_hungarian_page_greets_with_kedves_and_a_name(
        self, api: httpx.AsyncClient, settings: Settings, fields: dict[str, str], greeting: str
    ) -> None:
        cid = (await create_contact(api, locale="hu", **fields))["id"]
        response = await api.get(path(settings, cid))
        assert greeting in response.text

    async def test_unknown_locale_falls_back_to_the_default(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        cid = (await create_contact(api, locale="de"))["id"]
        assert '<html lang="en">' in (await api.get(path(settings, cid))).text

    async def test_tampered_token_is_404(self, api: httpx.AsyncClient, settings: Settings) -> None:
        cid = (await create_contact(api))["id"]
        # A one-click POST comes from a mail client: a problem it can read.
        response = await api.post(path(settings, cid) + "x", data=ONE_CLICK)
        assert (response.status_code, response.json()["code"]) == (404, "unsubscribe_link_invalid")

    @pytest.mark.parametrize(("accept_language", "lang", "title"), [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru", "Ссылка не работает"),
        ("hu", "hu", "Ez a hivatkozás nem működik"),
        ("de-DE,de;q=0.9", "en", "This link does not work"),
        ("", "en", "This link does not work"),
    ])
    async def test_a_person_opening_a_broken_link_reads_a_page_in_their_language(
        self, api: httpx.AsyncClient, settings: Settings, accept_language: str, lang: str, title: str
    ) -> None:
        cid = (await create_contact(api))["id"]
        response = await api.get(path(settings, cid) + "x",
                                 headers={"Authorization": "", "Accept-Language": accept_language})
        assert (response.status_code, response.headers["content-type"]) == (404, "text/html; charset=utf-8")
        assert f'<html lang="{lang}">' in response.text and f"<h1>{title}</h1>" in response.text
        assert response.headers["referrer-policy"] == "no-referrer"


class TestOneClick:
    async def test_revokes_exactly_that_category(self, api: httpx.AsyncClient, settings: Settings) -> None:
        cid = (await create_contact(api, locale="hu"))["id"]
        response = await api.post(path(settings, cid, Category.SALES), data=ONE_CLICK,
                                  headers={"Authorization": ""})
        assert response.status_code == 200
        assert "Sikeresen leiratkozott" in response.text
        assert await email_consent(api, cid) == {
            "transactional": True, "service": True, "sales": False, "marketing": True}
        sms = (await api.get(f"/v1/contacts/{cid}/preferences")).json()["consent"]["sms"]
        assert all(sms.values())
        entry = (await api.get(f"/v1/contacts/{cid}/timeline")).json()["items"][0]
        assert (entry["kind"], entry["data"]) == (
            "consent.revoked", {"channel": "email", "categories": ["sales"], "source": "unsubscribe"})

    async def test_scope_all_keeps_transactional(self, api: httpx.AsyncClient, settings: Settings) -> None:
        cid = (await create_contact(api))["id"]
        response = await api.post(path(settings, cid), data={"scope": "all"})
        assert response.status_code == 200
        assert await email_consent(api, cid) == {
            "transactional": True, "service": False, "sales": False, "marketing": False}

    async def test_a_post_without_a_choice_changes_nothing(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        cid = (await create_contact(api))["id"]
        response = await api.post(path(settings, cid), data={"List-Unsubscribe": "Yes"})
        assert (response.status_code, response.json()["code"]) == (400, "unsubscribe_choice_missing")
        assert all((await email_consent(api, cid)).values())


class TestResubscribe:
    """The page is the contact's own voice: it may give back what the contact withdrew."""

    async def test_the_page_offers_and_grants_back_what_staff_cannot(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        cid = (await create_contact(api, locale="ru"))["id"]
        await api.post(path(settings, cid), data=ONE_CLICK, headers={"Authorization": ""})
        refused = await api.patch(f"/v1/contacts/{cid}/preferences",
                                  json={"consent": {"email": {"marketing": True}}})
        assert refused.status_code == 409
        page = await api.get(path(settings, cid), headers={"Authorization": ""})
        assert 'value="resubscribe">Снова подписаться на рассылку «Новости и акции»' in page.text
        assert 'value="category"' not in page.text  # already unsubscribed from it
        response = await api.post(path(settings, cid), data={"scope": "resubscribe"},
                                  headers={"Authorization": ""})
        assert response.status_code == 200
        assert "Вы снова подписаны" in response.text
        assert 'value="resubscribe"' not in response.text
        assert await email_consent(api, cid) == dict.fromkeys(
            ("transactional", "service", "sales", "marketing"), True)
        entry = (await api.get(f"/v1/contacts/{cid}/timeline")).json()["items"][0]
        assert (entry["kind"], entry["data"]) == (
            "consent.granted", {"channel": "email", "categories": ["marketing"], "source": "unsubscribe"})
        # Given back by the contact, it is staff's to change again.
        again = await api.patch(f"/v1/contacts/{cid}/preferences",
                                json={"consent": {"email": {"marketing": False}}})
        assert again.status_code == 200

    @pytest.mark.parametrize(("locale", "text"), [
        ("en", "Subscribe again to “News and promotions”"),
        ("hu", "Újra feliratkozom: „Hírek és akciók”"),
    ])
    async def test_the_button_after_unsubscribing_in_each_language(
        self, api: httpx.AsyncClient, settings: Settings, locale: str, text: str
    ) -> None:
        cid = (await create_contact(api, locale=locale))["id"]
        response = await api.post(path(settings, cid), data={"scope": "category"})
        assert f'value="resubscribe">{text}</button>' in response.text
