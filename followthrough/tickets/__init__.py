"""Tickets: complaints and requests classified by an SLA policy, held to business-time SLAs."""
