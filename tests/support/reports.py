"""Test data for the reports computed in the database: one contact, users, and the reference
percentile the database's must equal."""

from __future__ import annotations

import statistics

from sqlmodel import Session

from followthrough.store import contacts, users


def p(values: list[int], q: float) -> float:
    """percentile_cont, as the reference: linear interpolation between the closest ranks."""
    if len(values) == 1:
        return float(values[0])
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1], 1)


class ReportWorld:
    """Rows for a report: one contact they all belong to, and users by name."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.contact = contacts.create(session, {"name": "C", "attributes": {}}).id
        self.count = 0

    def user(self, name: str) -> int:
        user, _ = users.create(self.session, name=name, email=None, role="rep")
        return user.id  # type: ignore[return-value]
