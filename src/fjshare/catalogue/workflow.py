"""The review workflow of catalogue entries (Art 16, 18): states, actions and who may take them.

    draft --submit--> submitted --approve--> approved --publish--> published --withdraw--> withdrawn
                          \\--return--> returned --submit--> submitted

A revision of a published entry goes through the same steps while the published version stays
visible; publishing it replaces the published version. Pure rules; :mod:`fjshare.node.catalogue`
applies them.
"""

from __future__ import annotations

from fjshare.errors import Refused

TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "submit"): "submitted",
    ("returned", "submit"): "submitted",
    ("submitted", "approve"): "approved",
    ("submitted", "return"): "returned",
    ("approved", "publish"): "published",
    ("published", "withdraw"): "withdrawn",
}
# Who acts (Art 18: registrars and reviewers appointed by the agency; Art 16: the agency publishes).
ACTORS: dict[str, tuple[str, ...]] = {
    "register": ("registrar",),
    "submit": ("registrar",),
    "approve": ("reviewer",),
    "return": ("reviewer",),
    "publish": ("registrar", "reviewer"),
    "withdraw": ("registrar", "reviewer"),
}
STALE_DAYS = 365  # Art 17: a full update of the agency's catalogue at least once a year


def next_state(state: str, action: str, code: str) -> str:
    """The state after ``action``; raises Refused saying what can be done from ``state``."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        possible = [a for (s, a) in TRANSITIONS if s == state]
        raise Refused(
            f"entry {code} is {state}: it cannot be {action.rstrip('e')}ed now",
            hint=(f"from {state} it can be: {', '.join(possible)}" if possible else f"nothing more can be done from {state}"),
        ) from None
