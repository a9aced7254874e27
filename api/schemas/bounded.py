"""Size limits of request fields: free-form objects, strings and lists.

Free-form objects (contact attributes, enrollment and event data) are limited by their
serialized size, ``FT_MAX_OBJECT_BYTES``; the app sets the limit per request (``OBJECT_LIMIT``),
so the schemas stay plain pydantic types.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from followthrough.contact_fields import serialized_size

DEFAULT_OBJECT_BYTES = 16 * 1024
#: The serialized size a free-form object may have in this request (set by ``InputLimits``).
OBJECT_LIMIT: ContextVar[int] = ContextVar("ft_object_limit", default=DEFAULT_OBJECT_BYTES)

#: Strings: short names and codes, a sentence of free text (reasons, summaries).
NAME_MAX = 200
#: A contact's given or family name (the ``contacts`` columns are 100 characters).
NAME_PART_MAX = 100
TEXT_MAX = 2000
LOCALE_MAX = 35  # BCP 47 tags are short; 35 is the longest tag RFC 5646 says to support
TIME_ZONE_MAX = 64
EMAIL_MAX = 254  # RFC 5321 path limit
PHONE_MAX = 32
#: Lists in a request body (a page of results is bounded by ``MAX_LIMIT`` instead).
LIST_MAX = 100


def _within_limit(value: dict[str, Any]) -> dict[str, Any]:
    limit = OBJECT_LIMIT.get()
    size = serialized_size(value)
    if size > limit:
        raise PydanticCustomError(
            "object_too_large", "is {size} bytes as JSON; the limit is {limit} bytes",
            {"size": size, "limit": limit})
    return value


#: A free-form JSON object bounded by ``FT_MAX_OBJECT_BYTES`` serialized.
FreeObject = Annotated[dict[str, Any], AfterValidator(_within_limit)]

Name = Annotated[str, Field(max_length=NAME_MAX)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
