"""Activities: classes built with their dependencies. ``build_activities`` is the one registry
the worker and the tests share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from activities.absence import AbsenceActivities
from activities.brief import BriefActivities
from activities.contacts import ContactActivities
from activities.delivery import DeliveryActivities
from activities.leads import LeadActivities
from activities.runs import RunActivities
from activities.tasks import TaskActivities
from activities.tickets import TicketActivities
from channels.registry import ChannelRegistry
from followthrough.liveness import Liveness
from followthrough.rendering import Renderer
from followthrough.settings import Settings


@dataclass
class ActivityDeps:
    settings: Settings
    engine: Engine
    renderer: Renderer
    channels: ChannelRegistry
    #: This worker process's liveness (worker.py); None: attempts name no process (tests).
    liveness: Liveness | None = None


def build_activities(deps: ActivityDeps) -> list[Callable[..., Any]]:
    delivery = DeliveryActivities(deps.engine, deps.renderer, deps.channels, deps.settings, deps.liveness)
    runs = RunActivities(deps.engine)
    people = ContactActivities(deps.engine, deps.settings)
    tasks = TaskActivities(deps.engine, deps.settings)
    brief = BriefActivities(deps.engine)
    absence = AbsenceActivities(deps.engine)
    tickets = TicketActivities(deps.engine, deps.settings)
    lead = LeadActivities(deps.engine, deps.settings)
    return [delivery.deliver, delivery.give_up, runs.record_step, runs.finish_run, runs.pin_holidays,
            runs.record_steps, people.load_contact, people.set_attribute, people.start_sequence,
            tasks.sync, tasks.message, tasks.next_occurrence, tasks.create_for_run, tasks.tell_run,
            brief.gather_brief, absence.report, tickets.sync, tickets.data, tickets.hold,
            lead.score, lead.apply, lead.record_event, lead.message, lead.assign, lead.create_task,
            lead.cancel_task, lead.enroll_nurture, lead.cancel_run, lead.cascade, lead.hand_over]
