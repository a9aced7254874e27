"""What to do with a message whose first attempt has an unknown outcome (contract 4)."""

from __future__ import annotations

from followthrough.models.vocab import Category

#: Marketing and sales: a duplicate annoys more than a miss, so an uncertain message is
#: reported, not resent. Transactional and service: a miss costs more, so it is resent (with the
#: same Message-ID, which lets receiving systems deduplicate).
AT_LEAST_ONCE = frozenset({Category.TRANSACTIONAL, Category.SERVICE})


def resend_uncertain(category: Category | str) -> bool:
    return Category(category) in AT_LEAST_ONCE
