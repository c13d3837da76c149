"""Who receives a bundle (DESIGN §6): province <- cities, and the province forwards.

Cities dial the province and never each other: everything a city sends goes to the province.
The province sends the whole catalogue and registry (and revocations) to every city, addressed
messages (``to/<node>``) to their node, and data to the nodes entitled to it (subscribers and
grantees, recorded by the sharing service; until then data stays at the province).
"""

from __future__ import annotations

from typing import Iterable

PROVINCE = "350000"
BROADCAST = ("catalogue", "registry", "revocations")


def recipients(
    manifest: dict,
    *,
    local: str,
    children: Iterable[str],
    received_from: str | None = None,
    entitled: Iterable[str] = (),
) -> list[str]:
    """The peers this node must send ``manifest``'s bundle to. Never the node it came from."""
    channel = manifest["stream"]["channel"]
    origin = manifest["stream"]["origin"]
    resource = manifest.get("resource") or {}
    if resource.get("share_type") == "none":
        return []  # not-shared data never leaves its node (Art 4, 21)
    if local != PROVINCE:
        return [] if received_from == PROVINCE else [PROVINCE]
    exclude = {received_from, origin, local}
    if channel in BROADCAST:
        targets = set(children)
    elif channel.startswith("to/"):
        targets = {channel[3:]} & set(children)
    elif channel.startswith("data/"):
        targets = set(entitled) & set(children)
    else:
        targets = set()
    return sorted(targets - exclude)
