"""The division registry: packaged Fujian list, operators' extra codes, jurisdiction (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fjshare.divisions import Division, Divisions, packaged_divisions
from fjshare.errors import BadInput

HEADER = "code,name,level,parent\n"


@pytest.fixture
def fujian() -> Divisions:
    return packaged_divisions()


def write_extra(tmp_path: Path, body: str, *, header: str = HEADER, bom: bool = False) -> Path:
    path = tmp_path / "divisions.csv"
    path.write_text(("\ufeff" if bom else "") + header + body, encoding="utf-8")
    return path


# --- the packaged list --------------------------------------------------------------------------


def test_packaged_list_is_one_province_nine_cities_and_their_counties(fujian: Divisions) -> None:
    levels = [d.level for d in fujian]
    assert levels.count("province") == 1
    assert [d.code for d in fujian.cities()] == [f"350{n}00" for n in range(1, 10)]
    assert levels.count("county") == len(fujian) - 10
    assert all(d.parent in fujian for d in fujian if d.level != "province")


@pytest.mark.parametrize(
    ("code", "name", "level", "parent"),
    [
        ("350000", "福建省", "province", None),
        ("350200", "厦门市", "city", "350000"),
        ("350203", "思明区", "county", "350200"),
        ("350181", "福清市", "county", "350100"),
    ],
)
def test_known_code_has_name_level_and_parent(
    fujian: Divisions, code: str, name: str, level: str, parent: str | None
) -> None:
    assert code in fujian
    assert fujian.name(code) == name
    assert fujian.level(code) == level
    assert fujian.parent(code) == parent
    assert fujian.get(code) == Division(code, name, level, parent)


def test_county_belongs_to_city_with_its_first_four_digits(fujian: Divisions) -> None:
    for county in (d for d in fujian if d.level == "county"):
        assert county.parent == county.code[:4] + "00"


def test_describe_prints_the_name_beside_the_code(fujian: Divisions) -> None:
    assert fujian.describe("350203") == "350203 思明区"
    assert str(fujian.require("350200")) == "350200 厦门市"


def test_describe_of_an_unknown_code_does_not_raise(fujian: Divisions) -> None:
    assert fujian.describe("350299") == "350299 (unknown)"


def test_xiamen_has_six_districts(fujian: Divisions) -> None:
    assert [d.code for d in fujian.counties_of("350200")] == [
        "350203", "350205", "350206", "350211", "350212", "350213",
    ]


@pytest.mark.parametrize(
    ("code", "fragment"), [("350203", "思明区 is not a city"), ("350000", "福建省 is not a city")]
)
def test_only_a_city_has_counties(fujian: Divisions, code: str, fragment: str) -> None:
    with pytest.raises(BadInput, match=fragment):
        fujian.counties_of(code)


# --- unknown and malformed codes ----------------------------------------------------------------


@pytest.mark.parametrize("code", ["350299", "360000", "110105"])
def test_unknown_code_is_refused_with_a_hint_to_add_it(fujian: Divisions, code: str) -> None:
    assert code not in fujian
    assert fujian.get(code) is None
    with pytest.raises(BadInput) as exc:
        fujian.require(code)
    assert exc.value.message == f"unknown division code {code}"
    assert "HOME/divisions.csv" in (exc.value.hint or "")
    for lookup in (fujian.name, fujian.level, fujian.parent):
        with pytest.raises(BadInput, match="unknown division code"):
            lookup(code)


@pytest.mark.parametrize(
    ("code", "fragment"), [("3502", "wrong length"), ("35020x", "bad character 'x'")]
)
def test_malformed_code_is_refused_saying_why(fujian: Divisions, code: str, fragment: str) -> None:
    with pytest.raises(BadInput, match=fragment):
        fujian.require(code)


# --- jurisdiction (DESIGN §4, Art 41) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "region", "covered"),
    [
        ("350000", "350000", True),   # the province registers provincial agencies
        ("350000", "350200", False),  # ... but not a city's agencies
        ("350000", "350203", False),  # ... nor a county's: those register through their city
        ("350200", "350200", True),   # a city registers its own agencies
        ("350200", "350203", True),   # ... and those of its counties
        ("350200", "350213", True),
        ("350200", "350102", False),  # not another city's county
        ("350200", "350100", False),  # not another city
        ("350200", "350000", False),  # not provincial agencies
        ("350100", "350181", True),   # a county-level city belongs to its city
        ("350203", "350203", False),  # there is no county node (Art 41)
        ("350200", "350299", False),  # unknown region
        ("360000", "360000", False),  # not a node of this federation
        ("3502", "350203", False),    # malformed codes never raise here
    ],
)
def test_jurisdiction_table(fujian: Divisions, node: str, region: str, covered: bool) -> None:
    assert fujian.in_jurisdiction(node, region) is covered


# --- an operator's extra file ------------------------------------------------------------------


def test_extra_file_adds_a_county_to_its_city(tmp_path: Path) -> None:
    extra = write_extra(tmp_path, "350214,测试新区,county,350200\n")
    divisions = Divisions(extra_file=extra)
    assert divisions.describe("350214") == "350214 测试新区"
    assert "350214" in [d.code for d in divisions.counties_of("350200")]
    assert divisions.in_jurisdiction("350200", "350214")
    assert not divisions.in_jurisdiction("350000", "350214")


def test_extra_codes_do_not_leak_into_the_packaged_list(tmp_path: Path) -> None:
    Divisions(extra_file=write_extra(tmp_path, "350214,测试新区,county,350200\n"))
    assert "350214" not in packaged_divisions()
    assert "350214" not in Divisions()


def test_packaged_list_is_built_once(fujian: Divisions) -> None:
    assert packaged_divisions() is fujian


def test_extra_row_may_leave_level_and_parent_to_the_code(tmp_path: Path) -> None:
    divisions = Divisions(extra_file=write_extra(tmp_path, "350214,测试新区,,\n"))
    assert divisions.get("350214") == Division("350214", "测试新区", "county", "350200")


def test_extra_file_may_omit_the_level_and_parent_columns(tmp_path: Path) -> None:
    divisions = Divisions(extra_file=write_extra(tmp_path, "350214,测试新区\n", header="code,name\n"))
    assert divisions.level("350214") == "county"


def test_extra_row_renames_a_packaged_division(tmp_path: Path) -> None:
    divisions = Divisions(extra_file=write_extra(tmp_path, "350203,思明区（新）,county,350200\n"))
    assert divisions.name("350203") == "思明区（新）"
    assert len(divisions) == len(packaged_divisions())


def test_extra_file_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    divisions = Divisions(extra_file=write_extra(tmp_path, "350214,测试新区,county,350200\n", bom=True))
    assert "350214" in divisions


def test_extra_county_may_sit_under_a_city_added_in_the_same_file(tmp_path: Path) -> None:
    body = "360000,江西省,province,\n360100,南昌市,city,360000\n360102,东湖区,county,360100\n"
    divisions = Divisions(extra_file=write_extra(tmp_path, body))
    assert divisions.in_jurisdiction("360100", "360102")


@pytest.mark.parametrize(
    ("body", "fragment", "row", "column"),
    [
        ("350214,新区,city,350200\n", "a county-level code, but the file says 'city'", 1, "level"),
        ("350214,新区,county,350100\n", "belongs to 350200, but the file says '350100'", 1, "parent"),
        ("350214,测试新区,,\n35021x,坏,,\n", "bad character 'x' at position 6", 2, "code"),
        ("350214,,,\n", "division 350214 has no name", 1, "name"),
        ("350214,甲,,\n350214,乙,,\n", "division 350214 appears twice", 2, "code"),
        ("360102,东湖区,county,360100\n", "belongs to 360100, which is not known", 1, "parent"),
        ("350214,测试新区,,\n\n350003,坏,,\n", "no city part", 3, "code"),
    ],
)
def test_bad_extra_row_is_refused_with_its_location(
    tmp_path: Path, body: str, fragment: str, row: int, column: str
) -> None:
    extra = write_extra(tmp_path, body)
    with pytest.raises(BadInput) as exc:
        Divisions(extra_file=extra)
    assert fragment in exc.value.message
    assert (exc.value.file, exc.value.row, exc.value.column) == (str(extra), row, column)


def test_extra_file_with_a_wrong_header_is_refused(tmp_path: Path) -> None:
    extra = write_extra(tmp_path, "350214,测试新区\n", header="代码,名称\n")
    with pytest.raises(BadInput, match="expected code,name,level,parent"):
        Divisions(extra_file=extra)


def test_missing_extra_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "divisions.csv"
    with pytest.raises(BadInput, match="cannot read division file") as exc:
        Divisions(extra_file=missing)
    assert exc.value.file == str(missing)


def test_extra_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    extra = tmp_path / "divisions.csv"
    extra.write_bytes((HEADER + "350214,测试新区,,\n").encode("gbk"))
    with pytest.raises(BadInput, match="cannot read division file"):
        Divisions(extra_file=extra)
