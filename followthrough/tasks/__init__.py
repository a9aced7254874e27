"""Tasks and reminders: the due time (``due``), the lifecycle (``lifecycle``, pure), the
invitation (``invite``) and the service the API calls (``service``)."""
