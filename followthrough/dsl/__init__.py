"""The definition language: schema, validation and the pure interpreter (workflow-safe).

Definitions come in three kinds, one discriminated union on ``kind`` (``kinds.py``): sequences
(below), lead policies (``followthrough.leads.policy``) and SLA policies
(``followthrough.tickets.policy``). ``loader`` parses any of them, ``validate.validate`` is the
one entry point of their full validation, ``checks`` holds what the kinds' checks share.

A sequence (``kind: sequence``) has ``name``, ``description``, ``category`` (transactional |
service | sales | marketing), ``locales``, ``stop_on`` (event names: ``reply`` or custom; such an
event ends the run as ``stopped``), an optional ``goal`` (a condition checked after every step and
every event; true ends the run as ``converted``), an optional ``brand`` (the sender's name the
contact knows, ``data.company`` in templates, unless the enrollment data gives its own ``company``;
unset: the ``FT_BRAND_NAME`` setting), ``data`` (the enrollment data it reads, documented: ``key:
{description, required, example}``) and ``steps``, each with an ``id`` and a ``type``:

- ``send``: ``channel`` (email | sms | voice | internal), ``template``, ``fallback`` channels,
  ``category`` override. ``internal`` notifies a user named by ``to_user``: a user id (``7``)
  or a path to one (``data.rep_id``, ``contact.attributes.owner_id``; an integer or a string of
  digits); left out, the contact's owner. It goes on the user's own channels and addresses (the
  ``users`` table), never an address from the run's data, in the user's language; it is outside
  the contact's policy (consent, quiet hours, caps, yields) and does not count toward it. The
  people policy applies instead: outside the user's working time or during an absence it waits,
  unless ``urgent: true``. An unset path, an unknown or inactive user, a user without an address
  or a contact without an owner skips the step (``no_recipient: ...``).
- ``wait``: exactly one of ``duration`` (ISO 8601, ``P2D``); ``business: {duration, calendar}``
  (working time on a named calendar, default ``default``); ``until_local_time: "09:30"`` (next
  occurrence in the contact's zone); ``until_date: {attribute, offset, at}`` — ``attribute`` is
  ``contact.<field>``, ``contact.attributes.<key>`` or ``data.<key>`` holding an ISO date or
  date-time, ``offset`` a signed duration (``-P1D``), ``at`` the local time used for a bare date
  (default 09:00). A missing or unparseable date skips the step with the reason; a due time
  already past does not wait.
- ``wait_for: {event, timeout, as}``: conditions then see ``events.<as or event>.received`` and
  ``.data``. Events that arrive earlier are buffered and consumed oldest first. ``timeout`` is
  an ISO 8601 duration of elapsed time, or the clock's relative time (``followthrough.clock.
  Relative``): ``{after: PT8H, business: true, calendar: office}`` is 8 working hours,
  ``{after: P1D, business: true, at: "10:00", zone: contact}`` the next working day at 10:00 in
  the contact's zone (``business`` counts days as working days; the calendar defaults to
  ``default``, the zone to the contact's; ``zone: owner`` is refused in a sequence).
- ``if: {condition, then, else}`` (``else`` defaults to the next step); ``split: {variants:
  [{percent, goto}]}`` (percents sum to 100; the variant is a stable hash of contact id + step id);
  ``goto``; ``exit: {reason}`` (run ``completed`` with that reason).
- ``set: {target, value | expression}``: ``contact.attributes.<key>`` or ``lead.score`` (stored as
  the contact attribute ``lead_score``; a contact with an open lead is scored by its lead policy,
  which expressions then read instead).
- ``start: {definition, data}``: enroll the contact in another sequence's active version.
- ``task: {kind, title, note, due, owner, priority, wait, timeout, as}``: create a task (kind
  call | meeting | email | todo) through the tasks service, once per run, step and visit.
  ``due`` is ``{after, business, at, zone}`` (the API's relative form; zone ``owner``,
  ``contact`` or an IANA name) or ``{expression}`` giving an RFC 3339 instant; ``owner`` a user
  id or a path (default: the contact's owner). With ``wait`` (which needs ``as``) the run waits
  for the task's ``task.completed`` / ``task.cancelled`` (signalled to this run by the task's
  workflow) or ``timeout`` (in ``wait_for``'s forms); conditions read ``events.<as>.received`` and ``.data.outcome``.
  What cannot be decided (no owner, a due that is not an instant or already past) is a skip.
- ``lead: {source, attributes}``: hand the contact to qualification: its open lead, else a new
  lead (``source``, default ``sequence``, and ``attributes``) scored, routed and held to the
  first-touch SLA by the active lead policy; once per run, step and visit.

Expression names (``expressions.NAMES``): ``contact``, ``data``, ``lead`` (``score``: the contact's
open lead's score, else the attribute ``lead_score``), ``events``,
``run`` (``visits``). See ``expressions.py``.
"""
