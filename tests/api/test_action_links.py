"""One-click action links: signed, expiring, single-use; GET shows, POST acts, once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.client import Client

from followthrough import action_links
from followthrough.action_links import LinkProblem, LinkRefused
from followthrough.settings import Settings
from followthrough.store import users
from followthrough.store.db import session_scope
from followthrough.store.tables import ActionLink
from tests.conftest import LiveStack
from tests.support.tasks import new_task, task_row

#: Far enough ahead that no reminder goes out while a test runs.
DUE = (datetime.now(UTC) + timedelta(days=2)).replace(hour=14, minute=0, second=0, microsecond=0)


def _user(engine: Engine, locale: str = "ru") -> int:
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Rita Rep", email="rita@example.test", role="rep")
        user.locale = locale
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


def _issue(engine: Engine, settings: Settings, task_id: int, action: str, locale: str = "ru",
           now: datetime | None = None) -> str:
    with session_scope(engine) as session:
        url = action_links.issue(session, settings, "task", task_id, action, locale, now)
    return url.removeprefix(settings.public_base_url)


@dataclass
class Env:
    web: httpx.AsyncClient
    settings: Settings
    engine: Engine
    temporal: Client


@pytest.fixture
async def env(live: LiveStack) -> AsyncIterator[Env]:
    """The live stack (its worker runs the real TaskWorkflow), asked without an API key: the
    link is its own authorisation."""
    from api.app import create_app

    app = create_app(live.settings, engine=live.engine, temporal_client=live.temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as web:
        yield Env(web, live.settings, live.engine, live.temporal)


async def _task(env: Env, owner_id: int, title: str = "Call Anna Petrova") -> int:
    task = await new_task(env.engine, env.temporal, env.settings, datetime.now(UTC), DUE,
                          owner_id=owner_id, title=title)
    assert task.id is not None
    return task.id


def _row(env: Env, task_id: int) -> tuple[str, str | None, str | None, bool]:
    return task_row(env.engine, task_id)


UNTOUCHED = ("open", None, None, False)
DONE_BY_LINK = ("done", "done", "via link", False)


def _used(engine: Engine) -> list[tuple[str, str, bool, str | None]]:
    with session_scope(engine) as session:
        return [(r.subject, r.action, r.used_at is not None, r.result)
                for r in session.exec(select(ActionLink).order_by(col(ActionLink.id)))]


class TestOpening:
    async def test_get_shows_a_confirmation_in_the_owners_language_and_changes_nothing(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "ru"))
        path = _issue(env.engine, env.settings, task_id, "done")
        for _ in range(2):  # a mail scanner, then the rep
            page = await env.web.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-store"
            assert "Подтвердите: отметить выполненной?" in page.text
            assert "Call Anna Petrova" in page.text
            assert f'action="{path}"' in page.text
        assert _row(env, task_id) == UNTOUCHED
        assert _used(env.engine) == [(f"task:{task_id}", "done", False, None)]

    async def test_an_open_link_shows_the_task_and_is_not_used_up(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "hu"), "Visszahívni Kovácsot")
        path = _issue(env.engine, env.settings, task_id, "open", "hu")
        page = await env.web.get(path)
        assert page.status_code == 200
        assert "Visszahívni Kovácsot" in page.text and f"Határidő: {DUE:%Y-%m-%d} 14:00 UTC" in page.text
        assert "<form" not in page.text
        assert (await env.web.post(path)).status_code == 404  # an open link acts on nothing
        assert _used(env.engine) == [(f"task:{task_id}", "open", False, None)]


class TestActing:
    async def test_post_completes_the_task_once_and_confirms(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "ru"))
        path = _issue(env.engine, env.settings, task_id, "done")
        page = await env.web.post(path)
        assert page.status_code == 200
        assert "Отмечено как выполненное" in page.text and "Состояние: done" in page.text
        assert _row(env, task_id) == DONE_BY_LINK
        assert _used(env.engine) == [(f"task:{task_id}", "done", True, "done")]

    async def test_a_reused_link_says_so_and_changes_nothing(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "ru"))
        path = _issue(env.engine, env.settings, task_id, "snooze")
        assert (await env.web.post(path)).status_code == 200
        again = await env.web.post(path)
        assert again.status_code == 410
        assert "Эта ссылка уже использована" in again.text
        opened = await env.web.get(path)
        assert opened.status_code == 410 and "<form" not in opened.text
        assert _row(env, task_id) == ("snoozed", None, None, True)

    async def test_the_task_refusing_is_a_page_and_the_link_records_why(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "en"))
        first = _issue(env.engine, env.settings, task_id, "done", "en")
        second = _issue(env.engine, env.settings, task_id, "snooze", "en")
        assert (await env.web.post(first)).status_code == 200
        refused = await env.web.post(second)
        assert refused.status_code == 409
        assert "Nothing to do" in refused.text
        assert _row(env, task_id) == DONE_BY_LINK
        assert _used(env.engine)[1][:3] == (f"task:{task_id}", "snooze", True)
        assert (_used(env.engine)[1][3] or "").startswith("rejected:")


class TestRefusedLinks:
    async def test_a_tampered_link_is_a_page_in_the_browsers_language(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "ru"))
        path = _issue(env.engine, env.settings, task_id, "done")
        tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
        for method in ("GET", "POST"):
            page = await env.web.request(method, tampered, headers={"Accept-Language": "hu-HU,hu;q=0.9"})
            assert page.status_code == 404
            assert "Ez a hivatkozás nem működik" in page.text
        assert _row(env, task_id) == UNTOUCHED
        assert _used(env.engine) == [(f"task:{task_id}", "done", False, None)]

    async def test_a_link_signed_with_another_key_is_refused(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "en"))
        foreign = env.settings.model_copy(update={"secret_key": "someone-elses-key-0123456789"})
        path = _issue(env.engine, foreign, task_id, "done", "en")
        page = await env.web.post(path)
        assert page.status_code == 404 and "This link does not work" in page.text
        assert _row(env, task_id) == UNTOUCHED

    async def test_an_expired_link_says_so_in_the_owners_language(self, env: Env) -> None:
        task_id = await _task(env, _user(env.engine, "hu"))
        path = _issue(env.engine, env.settings, task_id, "done", "hu")
        with session_scope(env.engine) as session:
            link = session.exec(select(ActionLink)).one()
            payload = {"l": link.id, "s": link.subject, "a": link.action}

        class EightDaysAgo(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - 8 * 86400

        old = URLSafeTimedSerializer(env.settings.signing_keys, salt="action-link", signer=EightDaysAgo)
        page = await env.web.post(f"/a/{old.dumps(payload)}")
        assert page.status_code == 410
        assert "Ez a hivatkozás lejárt" in page.text
        assert _row(env, task_id) == UNTOUCHED
        assert path  # the fresh link of the same record still works
        assert (await env.web.post(path)).status_code == 200


class TestVerify:
    def test_valid_until_the_maximum_age_then_expired(self, settings: Settings, engine: Engine) -> None:
        issued = datetime.now(UTC)
        with session_scope(engine) as session:
            token = action_links.issue(session, settings, "task", 42, "done", "ru").rsplit("/", 1)[1]
            claim = action_links.verify(session, settings, token, issued + timedelta(days=6, hours=23))
            assert (claim.kind, claim.subject_id, claim.action, claim.locale) == ("task", 42, "done", "ru")
            with pytest.raises(LinkRefused) as refused:
                action_links.verify(session, settings, token, issued + timedelta(days=7, minutes=1))
        assert (refused.value.problem, refused.value.locale) == (LinkProblem.EXPIRED, "ru")

    def test_the_maximum_age_is_a_setting(self, settings: Settings, engine: Engine) -> None:
        short = settings.model_copy(update={"action_link_max_age": timedelta(hours=1)})
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            token = action_links.issue(session, short, "task", 42, "done", "en").rsplit("/", 1)[1]
            with pytest.raises(LinkRefused) as refused:
                action_links.verify(session, short, token, now + timedelta(hours=1, minutes=1))
        assert refused.value.problem is LinkProblem.EXPIRED

    def test_consumed_once(self, settings: Settings, engine: Engine) -> None:
        with session_scope(engine) as session:
            token = action_links.issue(session, settings, "task", 7, "snooze", "en").rsplit("/", 1)[1]
            claim = action_links.verify(session, settings, token)
            action_links.consume(session, claim)
            with pytest.raises(LinkRefused) as again:
                action_links.consume(session, claim)
            with pytest.raises(LinkRefused) as reread:
                action_links.verify(session, settings, token)
        assert (again.value.problem, reread.value.problem) == (LinkProblem.USED, LinkProblem.USED)

    def test_links_survive_a_key_rotation(self, settings: Settings, engine: Engine) -> None:
        with session_scope(engine) as session:
            token = action_links.issue(session, settings, "task", 9, "done", "en").rsplit("/", 1)[1]
            rotated = settings.model_copy(update={"secret_key": f"a-new-key-0123456789,{settings.secret_key}"})
            assert action_links.verify(session, rotated, token).subject == "task:9"

    def test_an_unsubscribe_token_is_not_an_action_link(self, settings: Settings, engine: Engine) -> None:
        from followthrough.unsubscribe import make_token

        with session_scope(engine) as session:
            with pytest.raises(LinkRefused) as refused:
                action_links.verify(session, settings, make_token(settings, 1, "email", "marketing"))  # type: ignore[arg-type]
        assert refused.value.problem is LinkProblem.INVALID
