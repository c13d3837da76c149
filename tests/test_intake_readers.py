"""Outbox intake, data half: agency files of every accepted kind become typed Parquet (DESIGN §5)."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fjshare import ids_arrow
from fjshare.errors import BadInput
from fjshare.node.outbox.readers import INVALID_COLUMN, convert, detect_format, read_batches
from fjshare.schema import DataItem, arrow_schema, parse_spec

SPEC = "id(公民身份号码):id_number,name(姓名):string,birth(出生日期):date,region(行政区划):division_code"
ITEMS = parse_spec(SPEC)
ROWS = [
    ("11010519491231002X", "张三", "1949-12-31", "350203"),
    ("350203200002290010", "李四", "2000-02-29", "350102"),
]


# --- scalar reference rules (what fjshare.ids must also say) -----------------------------------

def ref_id_number(value: str) -> bool:
    if len(value) != 18 or not value[:17].isdigit() or not value[:17].isascii():
        return False
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if birth.year < 1900 or birth > dt.date.today():
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return value[17] == "10X98765432"[sum(int(c) * w for c, w in zip(value, weights)) % 11]


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def org_check(body: str) -> str:
    value = (11 - sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11) % 11
    return "X" if value == 10 else str(value)


def ref_uscc(value: str) -> bool:
    if len(value) != 18 or any(c not in USCC_ALPHABET for c in value):
        return False
    if not value[2:8].isdigit() or value[16] != org_check(value[8:16]):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(value, USCC_WEIGHTS))
    return value[17] == USCC_ALPHABET[(31 - total % 31) % 31]


PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
             50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}


def ref_division_code(value: str) -> bool:
    if not (len(value) == 6 and value.isascii() and value.isdigit()):
        return False
    return int(value[:2]) in PROVINCES and not (value[2:4] == "00" and value[4:] != "00")


def make_id(rng: random.Random, *, birth: str | None = None) -> str:
    if birth is None:
        birth = (dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(45000))).strftime("%Y%m%d")
    first = f"{rng.randrange(10**6):06d}{birth}{rng.randrange(1000):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first + "10X98765432"[sum(int(c) * w for c, w in zip(first, weights)) % 11]


def make_uscc(rng: random.Random) -> str:
    body = "".join(rng.choice(USCC_ALPHABET) for _ in range(8))
    first = rng.choice("159") + rng.choice("123") + f"{rng.randrange(10**6):06d}" + body + org_check(body)
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first, USCC_WEIGHTS))
    return first + USCC_ALPHABET[(31 - total % 31) % 31]


def mutations(rng: random.Random, value: str) -> list[str]:
    chars = "0123456789XxAIOZ中 "
    out = [value[:-1], value + "0", value.lower(), " " + value[1:]]
    for _ in range(6):
        i = rng.randrange(len(value))
        out.append(value[:i] + rng.choice(chars) + value[i + 1 :])
    return out


def test_ids_arrow_agrees_with_scalar_rules_gb11643_gb32100():
    rng = random.Random(11643)
    ids = [make_id(rng) for _ in range(400)]
    future = (dt.date.today() + dt.timedelta(days=1)).strftime("%Y%m%d")
    ids += [make_id(rng, birth=b) for b in ("20000229", "19000229", "20230229", "19991131", "18991231",
                                             "20241301", "20240100", "19000101", "20240229", future)]
    ids += [v[:17] + ":" for v in ids[:30]]
    ids += [m for v in ids[:200] for m in mutations(rng, v)] + ["", "11010519491231002X"]
    usccs = [make_uscc(rng) for _ in range(300)] + ["91350200MA2XXXXXXX", ""]
    usccs += [m for v in usccs[:150] for m in mutations(rng, v)]
    codes = ["350203", "350200", "350000", "350003", "010101", "990000", "35020", "3502031", "35020a",
             "３５０２０３", ""] + [f"{rng.randrange(10**6):06d}" for _ in range(300)]
    cases = [
        (ids_arrow.check_id_numbers, ref_id_number, ids),
        (ids_arrow.check_usccs, ref_uscc, usccs),
        (ids_arrow.check_division_codes, ref_division_code, codes),
    ]
    try:
        from fjshare import ids as scalar_ids
    except ImportError:
        scalar_ids = None
    for check, ref, values in cases:
        got = check(pa.array(values + [None])).to_pylist()
        assert got[-1] is None
        assert got[:-1] == [ref(v) for v in values], check.__name__
        # sliced arrays (non-zero offset) give the same answers
        assert check(pa.array(values).slice(3)).to_pylist() == got[3:-1]
        name = {"check_id_numbers": "id_number", "check_usccs": "uscc",
                "check_division_codes": "division_code"}[check.__name__]
        explain = ids_arrow.EXPLAIN[name]
        assert [explain(v) == "" for v in values] == got[:-1]
        if scalar_ids is not None:  # the colleague's validators are the rules of record
            scalar = getattr(scalar_ids, f"is_valid_{name}")
            assert [scalar(v) for v in values] == got[:-1], f"fjshare.ids disagrees on {name}"


def test_id_check_chars_makes_valid_ids():
    rng = random.Random(5)
    firsts = [make_id(rng)[:17] for _ in range(50)]
    checks = ids_arrow.id_check_chars(pa.array(firsts)).to_pylist()
    assert all(ref_id_number(f + c) for f, c in zip(firsts, checks))


# --- schema ---------------------------------------------------------------------------------------

def test_spec_parses_labels_decimals_and_lengths():
    items = parse_spec("name(姓名):string(20), amount:decimal( 12 ,2),id:id_number,ok:bool")
    assert [i.name for i in items] == ["name", "amount", "id", "ok"]
    assert items[0].label == "姓名" and items[0].length == 20
    assert items[1].type == "decimal(12,2)"
    schema = arrow_schema(items)
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("id").type == pa.string()
    assert parse_spec(",".join(i.spec() for i in items)) == items
    assert DataItem.from_dict(items[0].to_dict()) == items[0]
    assert DataItem.from_dict({"name": "birth", "type": "date", "label": "出生日期"}).label == "出生日期"


@pytest.mark.parametrize("spec, named", [
    ("name:strin", "name"), ("amount:decimal(40,2)", "amount"), ("a:int,a:string", "a"),
    ("name", "name"), ("a:int,,b:int", None), ("1bad:int", "1bad"),
])
def test_bad_spec_is_refused_naming_the_item(spec, named):
    with pytest.raises(BadInput) as err:
        parse_spec(spec)
    if named:
        assert named in str(err.value)


# --- fixtures -------------------------------------------------------------------------------------

def write_csv(path: Path, header: list[str], rows, encoding: str = "utf-8", sep: str = ",") -> Path:
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def read_back(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


EXPECTED = [
    {"id": "11010519491231002X", "name": "张三", "birth": dt.date(1949, 12, 31), "region": "350203"},
    {"id": "350203200002290010", "name": "李四", "birth": dt.date(2000, 2, 29), "region": "350102"},
]


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("gbk", "gb18030"),
])
def test_csv_encodings_of_chinese_office_software(tmp_path, encoding, expected):
    src = write_csv(tmp_path / "people.csv", ["id", "name", "birth", "region"], ROWS, encoding)
    result = convert(src, ITEMS, tmp_path / "out.parquet")
    assert result.encoding == expected and result.rows == 2
    assert read_back(tmp_path / "out.parquet") == EXPECTED


def test_utf16_tab_separated_text_from_excel(tmp_path):
    src = write_csv(tmp_path / "people.txt", ["id", "name", "birth", "region"], ROWS, "utf-16", "\t")
    convert(src, ITEMS, tmp_path / "out.parquet")
    assert read_back(tmp_path / "out.parquet") == EXPECTED


def test_file_neither_utf8_nor_gb18030_is_refused(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(b"id,name,birth,region\n11010519491231002X,\xff\xfe\xff\x80\x80,1949-12-31,350203\n")
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert "UTF-8" in str(err.value)
    assert not (tmp_path / "out.parquet").exists()


def test_labels_in_another_order(tmp_path):
    rows = [(r[3], r[1], r[2].replace("-", "/"), r[0]) for r in ROWS]
    src = write_csv(tmp_path / "p.csv", ["行政区划", "姓名", "出生日期", "公民身份号码"], rows, "gb18030")
    batches = list(read_batches(src, ITEMS))
    assert batches[0].schema == arrow_schema(ITEMS)
    assert pa.Table.from_batches(batches).to_pylist() == EXPECTED


def test_date_spellings(tmp_path):
    rows = [(ROWS[0][0], "a", "1949/12/31", "350203"), (ROWS[0][0], "b", "19491231", "350203"),
            (ROWS[0][0], "c", "1949-12-31", "350203"), (ROWS[0][0], "d", "", "350203")]
    src = write_csv(tmp_path / "p.csv", ["id", "name", "birth", "region"], rows)
    births = [r["birth"] for r in pa.Table.from_batches(list(read_batches(src, ITEMS))).to_pylist()]
    assert births == [dt.date(1949, 12, 31)] * 3 + [None]


def test_missing_column_is_refused_naming_it(tmp_path):
    src = write_csv(tmp_path / "p.csv", ["id", "name", "birth"], [r[:3] for r in ROWS])
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert err.value.column == "region" and "missing" in str(err.value)


def test_unknown_column_is_refused_naming_it(tmp_path):
    src = write_csv(tmp_path / "p.csv", ["id", "name", "birth", "region", "备注"], [(*r, "x") for r in ROWS])
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert err.value.column == "备注" and "unknown" in str(err.value)


def test_same_item_twice_is_refused(tmp_path):
    src = write_csv(tmp_path / "p.csv", ["id", "name", "姓名", "birth", "region"],
                    [(r[0], r[1], r[1], r[2], r[3]) for r in ROWS])
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert err.value.column == "姓名"


def test_bad_int_is_located_by_row_and_column(tmp_path):
    items = parse_spec("code:string,count(数量):int")
    rows = [(f"{i:04d}", str(i)) for i in range(1, 1000)]
    rows[736] = ("0737", "12a")
    src = write_csv(tmp_path / "p.csv", ["code", "数量"], rows)
    with pytest.raises(BadInput) as err:
        convert(src, items, tmp_path / "out.parquet", batch_rows=100)
    assert (err.value.row, err.value.column) == (737, "数量")
    assert "12a" in str(err.value) and err.value.hint


def test_bad_date_is_located(tmp_path):
    rows = list(ROWS) + [(ROWS[0][0], "王五", "2023-02-29", "350203")]
    src = write_csv(tmp_path / "p.csv", ["id", "name", "birth", "region"], rows)
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert (err.value.row, err.value.column) == (3, "birth")
    assert "2023-02-29" in str(err.value)


def test_typed_values_bool_decimal_timestamp(tmp_path):
    items = parse_spec("ok:bool,amount:decimal(12,2),at:timestamp,n:int,x:float")
    rows = [("是", "12.5", "2024-01-01 08:00:00", " 7 ", "1.5"),
            ("FALSE", "", "2024/1/2 3:04", "", ""),
            ("1", "-0.01", "2024-01-01T00:00:00+00:00", "0", "2")]
    src = write_csv(tmp_path / "p.csv", ["ok", "amount", "at", "n", "x"], rows)
    got = pa.Table.from_batches(list(read_batches(src, items))).to_pylist()
    utc = dt.timezone.utc
    assert [r["ok"] for r in got] == [True, False, True]
    assert [r["amount"] for r in got] == [Decimal("12.50"), None, Decimal("-0.01")]
    assert [r["at"].astimezone(utc).replace(tzinfo=None) for r in got] == [
        dt.datetime(2024, 1, 1, 0, 0), dt.datetime(2024, 1, 1, 19, 4), dt.datetime(2024, 1, 1, 0, 0)]
    assert [r["n"] for r in got] == [7, None, 0]


def test_id_ending_in_x_and_leading_zeros_survive(tmp_path):
    items = parse_spec("id:id_number,code:string,region:division_code")
    src = write_csv(tmp_path / "p.csv", ["id", "code", "region"], [("11010519491231002X", "000123", "350102")])
    convert(src, items, tmp_path / "out.parquet")
    assert read_back(tmp_path / "out.parquet") == [{"id": "11010519491231002X", "code": "000123", "region": "350102"}]


def test_invalid_id_is_quarantined_with_row_column_and_reason(tmp_path):
    rows = list(ROWS) + [("110105194912310021", "王五", "1949-12-31", "350203")]
    src = write_csv(tmp_path / "p.csv", ["公民身份号码", "name", "birth", "region"], rows)
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert (err.value.row, err.value.column) == (3, "公民身份号码")
    assert "110105194912310021" in str(err.value) and "check character" in str(err.value)
    assert list(tmp_path.iterdir()) == [src]


def test_invalid_ids_flagged_keep_every_row(tmp_path):
    rows = list(ROWS) + [("110105194912310021", "王五", "1949-12-31", "350203"),
                         ("11010519491231002X", "赵六", "1949-12-31", "35020")]
    src = write_csv(tmp_path / "p.csv", ["id", "name", "birth", "region"], rows)
    result = convert(src, ITEMS, tmp_path / "out.parquet", on_invalid="flag")
    assert (result.rows, result.invalid_rows) == (4, 2)
    assert [r[INVALID_COLUMN] for r in read_back(tmp_path / "out.parquet")] == [False, False, True, True]


def test_unchecked_identifiers_pass(tmp_path):
    rows = [("110105194912310021", "王五", "1949-12-31", "35020")]
    src = write_csv(tmp_path / "p.csv", ["id", "name", "birth", "region"], rows)
    assert convert(src, ITEMS, tmp_path / "out.parquet", check_identifiers=False).rows == 1


def test_parquet_input(tmp_path):
    table = pa.table({"姓名": ["张三", "李四"], "id": [r[0] for r in ROWS],
                      "birth": pa.array([dt.date(1949, 12, 31), dt.date(2000, 2, 29)]),
                      "region": ["350203", "350102"]})
    pq.write_table(table, tmp_path / "in.parquet")
    result = convert(tmp_path / "in.parquet", ITEMS, tmp_path / "out.parquet")
    assert result.format == "parquet"
    assert read_back(tmp_path / "out.parquet") == EXPECTED


def test_parquet_numbers_for_identifiers_refused(tmp_path):
    items = parse_spec("region:division_code")
    pq.write_table(pa.table({"region": [350203, 350102]}), tmp_path / "in.parquet")
    with pytest.raises(BadInput) as err:
        convert(tmp_path / "in.parquet", items, tmp_path / "out.parquet")
    assert err.value.column == "region"


def test_json_lines_input(tmp_path):
    lines = [json.dumps({"id": r[0], "姓名": r[1], "birth": r[2], "region": r[3]}, ensure_ascii=False) for r in ROWS]
    src = tmp_path / "p.jsonl"
    src.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    result = convert(src, ITEMS, tmp_path / "out.parquet")
    assert result.format == "jsonl"
    assert read_back(tmp_path / "out.parquet") == EXPECTED


def test_json_lines_number_for_identifier_refused(tmp_path):
    src = tmp_path / "p.ndjson"
    src.write_text(json.dumps({"id": ROWS[0][0], "name": "a", "birth": "1949-12-31", "region": "350203"}) + "\n"
                   + json.dumps({"id": ROWS[0][0], "name": "b", "birth": "1949-12-31", "region": 350203}) + "\n")
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert (err.value.row, err.value.column) == (2, "region")


def write_xlsx(path: Path, header, rows) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def test_xlsx_input(tmp_path):
    rows = [(r[0], r[1], dt.date.fromisoformat(r[2]), r[3]) for r in ROWS]
    src = write_xlsx(tmp_path / "p.xlsx", ["公民身份号码", "姓名", "出生日期", "行政区划"], rows)
    result = convert(src, ITEMS, tmp_path / "out.parquet")
    assert result.format == "xlsx"
    assert read_back(tmp_path / "out.parquet") == EXPECTED


def test_xlsx_numeric_id_refused_format_as_text(tmp_path):
    rows = [(ROWS[0][0], "张三", "1949-12-31", "350203"), (350203200002290010, "李四", "2000-02-29", "350102")]
    src = write_xlsx(tmp_path / "p.xlsx", ["id", "name", "birth", "region"], rows)
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert (err.value.row, err.value.column) == (2, "id")
    assert "format the column as text" in err.value.hint


def test_unknown_format_lists_accepted_ones(tmp_path):
    src = tmp_path / "p.docx"
    src.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(BadInput) as err:
        detect_format(src)
    assert "JSON Lines" in err.value.hint and "CSV" in err.value.hint


def test_csv_larger_than_many_batches(tmp_path):
    rng = random.Random(7)
    rows = [(make_id(rng), f"名{i}", "1990-01-01", f"3501{i % 100:02d}") for i in range(25_000)]
    src = write_csv(tmp_path / "big.csv", ["id", "name", "birth", "region"], rows, "gb18030")
    batches = list(read_batches(src, ITEMS, batch_rows=1000))
    assert len(batches) > 5 and sum(b.num_rows for b in batches) == 25_000
    result = convert(src, ITEMS, tmp_path / "out.parquet", batch_rows=1000)
    assert result.rows == 25_000 == pq.ParquetFile(tmp_path / "out.parquet").metadata.num_rows
    assert pq.read_table(tmp_path / "out.parquet").column("region")[5].as_py() == "350105"


def test_ragged_row_is_located(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("id,name,birth,region\n" + ",".join(ROWS[0]) + "\n" + ",".join(ROWS[1]) + ",extra\n")
    with pytest.raises(BadInput) as err:
        convert(src, ITEMS, tmp_path / "out.parquet")
    assert err.value.row == 2
