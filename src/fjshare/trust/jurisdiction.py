"""Jurisdiction (DESIGN §4, Art 41): which agencies a node may register and sign for.

Only string logic on GB/T 2260 codes: a city is ``35xx00``; a county belongs to the city with its
first four digits. Whether a code exists is the division table's question, not this one's.
"""

from __future__ import annotations

import re

from fjshare.trust.certs import PROVINCE_CODE

_REGION = re.compile(r"^\d{6}$")


def city_of(region: str) -> str:
    """The city (设区市) a division code belongs to: its first four digits + ``00``."""
    return region[:4] + "00"


def node_region_fits_tier(tier: str, region: str) -> bool:
    """The province node sits at 350000; a city node at a ``35xx00`` code other than 350000."""
    if not _REGION.match(region or ""):
        return False
    if tier == "province":
        return region == PROVINCE_CODE
    if tier == "city":
        return region.startswith("35") and region.endswith("00") and region != PROVINCE_CODE
    return False


def in_jurisdiction(tier: str, node_region: str, region: str) -> bool:
    """Whether a node of ``tier`` at ``node_region`` may act for an agency registered in ``region``.

    The province node serves provincial agencies (350000) only; a city node 35xx00 serves its own
    region and its counties 35xxyy (DESIGN §4, Art 41). Structure only: the division table is
    checked elsewhere.
    """
    if not node_region_fits_tier(tier, node_region) or not _REGION.match(region or ""):
        return False
    if tier == "province":
        return region == PROVINCE_CODE
    return region != PROVINCE_CODE and city_of(region) == node_region
