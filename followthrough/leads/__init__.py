"""Leads: scoring and qualification by a lead policy, assignment to a rep, the first-touch SLA."""
