"""`followthrough definitions validate | apply | preview` for every kind of definition, and the
built-in definitions of any kind seeded at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

import cli
from followthrough.bootstrap import seed_builtins
from followthrough.settings import Settings
from followthrough.store import definitions, teams, users
from followthrough.store.db import session_scope
from tests.api.test_definition_kinds import lead_policy, sla_policy
from tests.test_cli import invoke, no_api, runner, table_rows, through_app

__all__ = ["no_api", "through_app"]  # the fixtures, shared with tests/test_cli.py


def write(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def sales_team(engine: Engine) -> int:
    with session_scope(engine) as session:
        rita, _ = users.create(session, name="Rita", email=None, role="rep")
        teams.put(session, "sales", members_in=[(rita.id, 1)], manager_id=None, calendar=None)  # type: ignore[list-item]
        return rita.id  # type: ignore[return-value]


@pytest.mark.usefixtures("no_api")
class TestValidate:
    def test_every_kind_is_checked_offline(self, tmp_path: Path) -> None:
        leads, support = write(tmp_path, lead_policy()), write(tmp_path, sla_policy())
        code, out, err = invoke("definitions", "validate", str(leads), str(support))
        assert (code, err) == (0, "")
        assert out.splitlines() == [f"{leads}: ok (inbound_leads, lead_policy, 2 fit rules)",
                                    f"{support}: ok (support, sla_policy, 1 classification rules, 2 priorities)"]

    def test_a_policy_s_problems_with_their_paths(self, tmp_path: Path) -> None:
        document = lead_policy(thresholds={"qualified": 10, "disqualified": 10})
        document["fit"][0]["when"] = "data.x"
        path = write(tmp_path, document)
        code, out, err = invoke("definitions", "validate", str(path))
        assert (code, out) == (1, "")
        assert [line.strip() for line in err.splitlines()] == [
            f"{path}: 2 error(s)",
            "/thresholds: Value error, the disqualify line (10) must be below the qualified threshold (10)",
            "/fit/0/when: expression 'data.x': unknown name 'data' (use one of: contact, lead)",
        ]


class TestValidateAgainstTheApi:
    """With an API configured, a policy's teams, users and nurture sequence are checked against
    what it holds; with a key that cannot list every team and user, they are not checked."""

    def test_an_admin_key_checks_teams_and_the_nurture_sequence(self, tmp_path: Path, through_app: Engine) -> None:
        path = write(tmp_path, lead_policy(nurture={"sequence": "missing_sequence"}))
        code, out, err = invoke("definitions", "validate", str(path))
        assert (code, out) == (1, "")
        assert [line.strip() for line in err.splitlines()] == [
            f"{path}: 3 error(s)",
            "/assignment/rules/0/team: no team named 'sales' (PUT /v1/teams/sales)",
            "/assignment/default_team: no team named 'sales' (PUT /v1/teams/sales)",
            "/nurture/sequence: no sequence named 'missing_sequence'",
        ]
        sales_team(through_app)
        code, out, err = invoke("definitions", "validate", str(write(tmp_path, lead_policy())))
        assert (code, err, out.strip().endswith("ok (inbound_leads, lead_policy, 2 fit rules)")) == (0, "", True)

    def test_a_manager_key_leaves_teams_and_users_unchecked(self, tmp_path: Path, through_app: Engine,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
        with session_scope(through_app) as session:
            _, key = users.create(session, name="Mia", email=None, role="manager")
        monkeypatch.setenv("FT_ADMIN_API_KEY", key)
        document = sla_policy()
        document["priorities"]["high"]["ladder"][0]["notify"] = [999]
        code, out, err = invoke("definitions", "validate", str(write(tmp_path, document)))
        assert (code, err) == (0, "")
        assert out.strip().endswith("ok (support, sla_policy, 1 classification rules, 2 priorities)")


class TestApply:
    def test_a_folder_of_every_kind_is_saved_and_published(self, tmp_path: Path, through_app: Engine) -> None:
        sales_team(through_app)
        write(tmp_path, lead_policy())
        write(tmp_path, sla_policy())
        code, out, err = invoke("definitions", "apply", str(tmp_path))
        assert (code, err) == (0, "")
        assert table_rows(out) == [["inbound_leads", "1", "yes", "yes"], ["support", "1", "yes", "yes"]]
        with session_scope(through_app) as session:
            # The built-in lead policy (definitions/default_leads.yaml) is there too.
            assert [(r.name, r.kind) for r, _ in definitions.list_latest(session, "lead_policy")] == [
                ("default_leads", "lead_policy"), ("inbound_leads", "lead_policy")]

    def test_the_store_s_references_are_checked_on_apply(self, tmp_path: Path, through_app: Engine) -> None:
        write(tmp_path, lead_policy())  # no team 'sales' yet
        code, _, err = invoke("definitions", "apply", str(tmp_path))
        assert code == 1
        text = " ".join(err.split())
        assert "/assignment/default_team: no team named 'sales' (PUT /v1/teams/sales)" in text


class TestPreview:
    def test_a_lead_policy_preview_prints_its_answer(self, tmp_path: Path, through_app: Engine) -> None:
        rita = sales_team(through_app)
        invoke("definitions", "apply", str(write(tmp_path, lead_policy())))
        result = runner.invoke(cli.app, [
            "definitions", "preview", "inbound_leads", "--contact", '{"attributes": {"employees": 80}}',
            "--lead", '{"source": "web", "attributes": {"segment": "smb"}}', "--start", "2026-04-01T10:00:00Z"])
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert (answer["kind"], answer["stage"], answer["score"]["score"], answer["owner_id"]) == (
            "lead_policy", "qualified", 40.0, rita)


class TestBuiltins:
    def test_built_in_definitions_of_every_kind_are_seeded_published(
        self, settings: Settings, engine: Engine, tmp_path: Path,
    ) -> None:
        write(tmp_path, lead_policy("default_leads"))
        write(tmp_path, sla_policy("support_sla"))
        write(tmp_path, {"name": "hello", "steps": [{"id": "m", "type": "send", "channel": "email",
                                                      "template": "welcome"}]})
        seed_builtins(engine, settings.model_copy(update={"definitions_dir": tmp_path}))
        with session_scope(engine) as session:
            seeded = {name: (row.kind, row.version, row.published_at is not None)
                      for name in ("default_leads", "support_sla", "hello")
                      if (row := definitions.active(session, name)) is not None}
        assert seeded == {"default_leads": ("lead_policy", 1, True), "support_sla": ("sla_policy", 1, True),
                          "hello": ("sequence", 1, True)}
