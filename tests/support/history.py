"""A workflow's history as Temporal stores it, and as our codec decodes it."""

from __future__ import annotations

import json
from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent, MarkerRecordedEventAttributes
from temporalio.client import Client, WorkflowHistory


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside ``message`` (inputs, results, failures' encoded
    attributes, headers, memos), depth first."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = [v for v in value.values() if isinstance(v, Message)]
        elif isinstance(value, Message):
            values = [value]
        else:
            values = list(value)  # a repeated message field
        for item in values:
            yield from payloads_in(item)


async def raw_events(client: Client, workflow_id: str) -> list[HistoryEvent]:
    """The history events exactly as the server holds them (fetching never runs the codec)."""
    return [event async for event in client.get_workflow_handle(workflow_id).fetch_history_events()]


async def decoded_payloads(client: Client, events: list[HistoryEvent]) -> list[Payload]:
    """Every payload of ``events`` after the client's codec (what a worker or a codec server
    sees)."""
    codec = client.data_converter.payload_codec
    assert codec is not None, "the client has no payload codec"
    found = [payload for event in events for payload in payloads_in(event)]
    return await codec.decode(found) if found else []


def local_activities(history: WorkflowHistory) -> list[str]:
    """The activity type of every local activity a history records (its markers), in order."""
    return [json.loads(m.details["data"].payloads[0].data)["activity_type"] for m in _markers(history)
            if m.marker_name == "core_local_activity"]


def patch_markers(history: WorkflowHistory) -> int:
    """How many patch markers a history records."""
    return sum(m.marker_name == "core_patch" for m in _markers(history))


def _markers(history: WorkflowHistory) -> list[MarkerRecordedEventAttributes]:
    return [e.marker_recorded_event_attributes for e in history.events
            if e.HasField("marker_recorded_event_attributes")]
