"""Changing an entity (a task, a ticket) through its workflow's Update: one way to call it and to
turn a refusal into a 409 naming the entity's state, for every entity workflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from followthrough.errors import Conflict

View = TypeVar("View", bound=BaseModel)


class InvalidTransition(Conflict):
    """The entity's state does not allow the action (the workflow's validator said so)."""

    code = "invalid_transition"


async def execute(client: Client, workflow_id: str, action: str, input: BaseModel, result_type: type[View], *,
                  subject: str, final_state: Callable[[], Awaitable[str]]) -> View:
    """Run the Update ``action`` and return the entity's new view. A validator's refusal
    (``ApplicationError`` of type ``InvalidTransition``) is an :class:`InvalidTransition`; so is
    an entity whose workflow has ended (``subject`` is "task 7", ``final_state`` reads its row)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(action, input, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "InvalidTransition":
            raise InvalidTransition(cause.message) from exc
        raise
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise InvalidTransition(f"{subject} is {await final_state()}; {action} is not allowed") from exc
