"""Custom processing (Art 22): filter, compare and clean, as pure Arrow functions.

* filter   - rows that meet conditions, with chosen columns (the query machinery does this);
* compare  - two tables on a key: keys present in one and not the other, and differing values of
             chosen items, each with both values (the comparison of Art 9 and 28);
* clean    - trim text, normalise full-width characters (NFKC), and de-duplicate on a key (the
             last row of a key wins).
"""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from fjshare.errors import BadInput

COMPARE_SCHEMA = pa.schema([
    pa.field("key", pa.string()), pa.field("finding", pa.string()), pa.field("item", pa.string()),
    pa.field("value_a", pa.string()), pa.field("value_b", pa.string()),
])


def _text(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.cast(values, pa.string())


def compare(a: pa.Table, b: pa.Table, *, key: str, items: list[str]) -> pa.Table:
    """Findings ``only_in_a``, ``only_in_b`` and ``differs`` (per item), sorted by key. Raises BadInput."""
    for name, t in (("first", a), ("second", b)):
        missing = [c for c in [key, *items] if c not in t.column_names]
        if missing:
            raise BadInput(f"the {name} table has no column(s) {', '.join(missing)}")
    a_rows = {k: i for i, k in enumerate(_text(a[key]).to_pylist()) if k is not None}
    b_rows = {k: i for i, k in enumerate(_text(b[key]).to_pylist()) if k is not None}
    a_vals = {it: _text(a[it]).to_pylist() for it in items}
    b_vals = {it: _text(b[it]).to_pylist() for it in items}
    out: list[tuple] = []
    for k in sorted(a_rows.keys() - b_rows.keys()):
        out.append((k, "only_in_a", None, None, None))
    for k in sorted(b_rows.keys() - a_rows.keys()):
        out.append((k, "only_in_b", None, None, None))
    for k in sorted(a_rows.keys() & b_rows.keys()):
        for it in items:
            va, vb = a_vals[it][a_rows[k]], b_vals[it][b_rows[k]]
            if va != vb:
                out.append((k, "differs", it, va, vb))
    cols = list(zip(*out)) if out else [[] for _ in COMPARE_SCHEMA]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(cols, COMPARE_SCHEMA)], schema=COMPARE_SCHEMA)


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    return unicodedata.normalize("NFKC", value).strip()


def clean(t: pa.Table, *, key: str | None = None) -> pa.Table:
    """Trim and NFKC-normalise every text column; keep the last row of each key. Raises BadInput."""
    columns = []
    for name in t.column_names:
        col = t[name]
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pa.array([_clean_text(v) for v in col.to_pylist()], col.type)
        columns.append(col)
    t = pa.table(columns, names=t.column_names)
    if key is None:
        return t
    if key not in t.column_names:
        raise BadInput(f"no column {key!r} to de-duplicate on", hint=f"columns: {', '.join(t.column_names)}")
    t = t.append_column("_pos", pa.array(range(t.num_rows), pa.int64()))
    last = t.group_by(key, use_threads=False).aggregate([("_pos", "max")])
    return t.filter(pc.is_in(t["_pos"], value_set=last["_pos_max"])).drop_columns(["_pos"])
