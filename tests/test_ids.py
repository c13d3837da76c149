"""Identifier validators: GB 32100 (USCC), GB 11643 (ID number), GB/T 2260 (division codes).

Every valid code below was computed with the checkers under test and, where marked, is a
published code (python-stdnum's test suite, "found online") that the same checkers accept, which
ties the check-character arithmetic to real certificates.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fjshare import ids
from fjshare.errors import BadInput

TODAY = dt.date(2025, 5, 31)


# --- GB 32100 unified social credit code --------------------------------------------------------

VALID_USCC = [
    "91350100M000100Y43",  # enterprise registered in Fuzhou
    "113500000031234521",  # 机构编制/机关: a provincial agency
    "11350200MB0012343Q",  # a Xiamen municipal agency
    "11350203004012340E",  # a Siming district agency
    "1135020000310004X2",  # organisation code check character X
    "11350200003100090D",  # organisation code check character 0 (value 11)
    "52350206MA8RTU3K9G",  # 民政/民办非企业单位 in Huli
    "92350800MA31HJQ700",  # 个体工商户 in Longyan, overall check character 0
]

PUBLISHED_USCC = [
    "91110000600037341L",
    "9144030071526726XG",
    "913505007821784439",  # Quanzhou
    "121200004013590816",  # 事业单位
    "91310115MA1K3BTP2B",
    "91620105L015101280",
    "92340621MA2UK3PJXE",
]


@pytest.mark.parametrize("code", VALID_USCC + PUBLISHED_USCC)
def test_valid_uscc_is_returned_unchanged(code: str) -> None:
    assert ids.validate_uscc(code) == code
    assert ids.is_valid_uscc(code)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y4", "wrong length: unified social credit code '91350100M000100Y4' has"),
        ("91350100M000100Y433", "has 19 characters, expected 18"),
        ("", "has 0 characters"),
        ("1I350200MB0012343Q", "bad character 'I' at position 2"),
        ("O1350200MB0012343Q", "bad character 'O' at position 1"),
        ("11350A00MB0012343Q", "bad character 'A' at position 6"),
        ("11350200MB0012343q", "bad character 'q' at position 18"),
        ("91350100m000100y43", "bad character 'm' at position 9"),
        ("91350100M000100S43", "bad character 'S' at position 16"),
        ("91350100M000100YA3", "bad character 'A' at position 17"),
        ("1135020000310004Z2", "bad character 'Z' at position 17"),
        ("11350200003100040D", "wrong organisation code check character"),
        ("11350200003100040D", "position 17 is '0', expected 'X' (GB 11714)"),
        ("91350100M000100Y44", "wrong check character in unified social credit code"),
        ("91350100M000100Y44", "position 18 is '4', expected '3'"),
        ("21350100M000100Y43", "position 18 is '3', expected 'A'"),  # authority changed
    ],
)
def test_invalid_uscc_message_says_what_is_wrong(code: str, fragment: str) -> None:
    with pytest.raises(BadInput) as exc:
        ids.validate_uscc(code)
    assert fragment in exc.value.message
    assert exc.value.hint
    assert not ids.is_valid_uscc(code)


def test_uscc_read_as_a_spreadsheet_number_is_refused_as_text_expected() -> None:
    with pytest.raises(BadInput, match="is a number, not text"):
        ids.validate_uscc(113500000031234521)  # type: ignore[arg-type]


def test_uscc_check_char_completes_the_first_17_characters() -> None:
    assert ids.uscc_check_char("91350100M000100Y4") == "3"
    assert ids.uscc_check_char("92350800MA31HJQ70") == "0"


def test_org_code_check_values_10_and_11_are_written_x_and_0() -> None:
    assert ids.org_code_check_char("00310004") == "X"
    assert ids.org_code_check_char("00310009") == "0"
    assert ids.org_code_check_char("M000100Y") == "4"


@pytest.mark.parametrize("bad", ["9135010", "91350100M000100I4", "91350100m000100y4"])
def test_uscc_check_char_refuses_input_outside_the_alphabet(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.uscc_check_char(bad)


def test_make_uscc_builds_codes_the_validator_accepts() -> None:
    assert ids.make_uscc("350100", "M000100Y", authority="9") == "91350100M000100Y43"
    assert ids.make_uscc("350203", "00401234") == "11350203004012340E"
    with pytest.raises(ValueError):
        ids.make_uscc("35020", "00401234")


def test_any_single_character_change_in_a_uscc_is_caught() -> None:
    code = "11350200MB0012343Q"
    for i, original in enumerate(code):
        for c in ids.USCC_ALPHABET:
            if c != original:
                assert not ids.is_valid_uscc(code[:i] + c + code[i + 1 :]), (i, c)


def test_typed_uscc_is_normalised_to_the_stored_spelling() -> None:
    assert ids.normalise_uscc(" 91350100m000100y43\t") == "91350100M000100Y43"
    assert ids.normalise_uscc("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"
    assert ids.validate_uscc(ids.normalise_uscc("9135 0100 m000 100y 43")) == "91350100M000100Y43"


# --- GB 11643 resident ID number ----------------------------------------------------------------

VALID_ID = [
    "11010519491231002X",  # the example in GB 11643-1999 itself, check digit X
    "35020319850615002X",  # Siming, check digit X
    "350102199001010278",
    "110105198808084526",
    "350102200002290270",  # 29 February 2000: divisible by 400, a leap year
    "350102202402290279",  # 29 February 2024: a leap year
    "350102190001010277",  # 1900 is the earliest year accepted
]


@pytest.mark.parametrize("number", VALID_ID)
def test_valid_id_number_is_returned_unchanged(number: str) -> None:
    assert ids.validate_id_number(number, today=TODAY) == number
    assert ids.is_valid_id_number(number, today=TODAY)


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("35010219900101027", "wrong length: ID number '35010219900101027' has 17 characters"),
        ("3501021990010102788", "has 19 characters, expected 18"),
        ("350102900101027", "has 15 characters, expected 18"),  # the pre-1999 15-digit form
        ("350102A99001010278", "bad character 'A' at position 7"),
        ("3501021990 1010278", "bad character ' ' at position 11"),
        ("35020319850615002x", "bad character 'x' at position 18"),
        ("35020319850615002x", "expected a digit or uppercase 'X'"),
        ("35020319850615002Y", "bad character 'Y' at position 18"),
        ("350102199902300278", "impossible birth date 19990230"),
        ("350102199902290278", "impossible birth date 19990229"),  # 1999: not a leap year
        ("350102202302290278", "impossible birth date 20230229"),  # 2023: not a leap year
        ("350102190002290278", "impossible birth date 19000229"),  # 1900: century, not a leap year
        ("350102199013010278", "impossible birth date 19901301"),
        ("350102199000100278", "impossible birth date 19900010"),
        ("440524188001010014", "birth year 1880"),  # GB 11643's own example, correct check digit
        ("440524188001010014", "is before 1900"),
        ("350102202506010278", "birth date 20250601 in ID number '350102202506010278' is in the"),
        ("350102202506010278", "is in the future (today is 20250531)"),
        ("350102199001010270", "wrong check character in ID number"),
        ("350102199001010270", "position 18 is '0', expected '8'"),
        ("350203198506150020", "position 18 is '0', expected 'X'"),
    ],
)
def test_invalid_id_number_message_says_what_is_wrong(number: str, fragment: str) -> None:
    with pytest.raises(BadInput) as exc:
        ids.validate_id_number(number, today=TODAY)
    assert fragment in exc.value.message
    assert exc.value.hint
    assert not ids.is_valid_id_number(number, today=TODAY)


def test_a_birth_date_of_today_is_not_in_the_future() -> None:
    number = "350102202506010278"
    assert ids.validate_id_number(number, today=dt.date(2025, 6, 1)) == number
    assert not ids.is_valid_id_number(number, today=dt.date(2025, 5, 31))


def test_future_is_judged_against_the_real_date_when_today_is_not_given() -> None:
    next_year = dt.date.today().year + 1
    assert not ids.is_valid_id_number(ids.make_id_number("350203", dt.date(next_year, 1, 1), 1))
    assert ids.is_valid_id_number("350102199001010278")


def test_id_number_read_as_a_spreadsheet_number_is_refused() -> None:
    with pytest.raises(BadInput, match="is a number, not text"):
        ids.validate_id_number(350102199001010278)  # type: ignore[arg-type]


def test_lowercase_x_is_accepted_only_after_normalising() -> None:
    typed = "35020319850615002x"
    with pytest.raises(BadInput) as exc:
        ids.validate_id_number(typed, today=TODAY)
    assert "normalise_id_number" in (exc.value.hint or "")
    assert ids.validate_id_number(ids.normalise_id_number(typed), today=TODAY) == typed.upper()


def test_full_width_id_number_typed_in_a_chinese_input_method_normalises() -> None:
    assert ids.normalise_id_number("３５０２０３１９８５０６１５００２ｘ ") == "35020319850615002X"


def test_id_check_char_follows_iso_7064_mod_11_2() -> None:
    assert ids.id_check_char("11010519491231002") == "X"
    assert ids.id_check_char("44052418800101001") == "4"
    with pytest.raises(ValueError):
        ids.id_check_char("1101051949123100X")


def test_any_single_digit_change_or_adjacent_swap_in_an_id_number_is_caught() -> None:
    number = "350102199001010278"
    for i in range(17):
        for c in "0123456789":
            changed = number[:i] + c + number[i + 1 :]
            if c != number[i]:
                assert not ids.is_valid_id_number(changed, today=TODAY), changed
        if i < 16 and number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            assert not ids.is_valid_id_number(swapped, today=TODAY), swapped


def test_make_id_number_and_birth_date_round_trip() -> None:
    number = ids.make_id_number("350203", dt.date(1985, 6, 15), 2)
    assert number == "35020319850615002X"
    assert ids.id_birth_date(number, today=TODAY) == dt.date(1985, 6, 15)
    with pytest.raises(ValueError):
        ids.make_id_number("350203", dt.date(1985, 6, 15), 1000)


def test_birthplace_prefix_is_checked_for_structure_only() -> None:
    # Born in Beijing, or under a division code since abolished: still a valid number.
    assert ids.is_valid_id_number("110105198808084526", today=TODAY)
    assert ids.is_valid_id_number(ids.make_id_number("990000", dt.date(1970, 1, 1), 5))


# --- GB/T 2260 division codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("350000", "province"),
        ("350200", "city"),
        ("350203", "county"),
        ("350181", "county"),  # 福清市, a county-level city, is a county here
        ("110000", "province"),
        ("429004", "county"),  # a county-level city directly under Hubei (city part 90)
    ],
)
def test_level_follows_from_the_trailing_zeros(code: str, level: str) -> None:
    assert ids.validate_division_code(code) == code
    assert ids.division_level(code) == level


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("35020", "wrong length: division code '35020' has 5 characters, expected 6"),
        ("3502030", "has 7 characters"),
        ("35020A", "bad character 'A' at position 6"),
        ("３５０２０３", "bad character '３' at position 1"),
        ("990000", "starts with 99, which is no province-level prefix"),
        ("000000", "no province-level prefix"),
        ("350003", "has a county part (03) but no city part"),
    ],
)
def test_malformed_division_code_message_says_what_is_wrong(code: str, fragment: str) -> None:
    with pytest.raises(BadInput) as exc:
        ids.validate_division_code(code)
    assert fragment in exc.value.message
    assert not ids.is_valid_division_code(code)


def test_county_belongs_to_city_with_its_first_four_digits() -> None:
    assert ids.city_of("350203") == "350200"  # 思明区 -> 厦门市
    assert ids.city_of("350181") == "350100"  # 福清市 -> 福州市


def test_a_city_is_its_own_city() -> None:
    assert ids.city_of("350200") == "350200"


def test_a_province_belongs_to_no_city() -> None:
    with pytest.raises(BadInput, match="belongs to no city"):
        ids.city_of("350000")


@pytest.mark.parametrize("code", ["350000", "350200", "350203"])
def test_every_fujian_code_belongs_to_province_350000(code: str) -> None:
    assert ids.province_of(code) == "350000"


def test_city_of_a_malformed_code_is_refused() -> None:
    with pytest.raises(BadInput, match="wrong length"):
        ids.city_of("3502")
