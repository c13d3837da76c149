"""Comparison of a business resource against a base resource (Art 9, 11, 14, 28), as pure Arrow.

Art 28 asks an agency to compare its business data with the base databases and to trace every
inconsistent row "to the agency and the person who handled it". The business side is small (the
rows an agency holds, with the trace columns ``_bundle``, ``_provider``, ``_handler`` that
:func:`fjshare.node.query.read_view` adds) and the base side is large (tens of millions of
population records), so the base is never held in memory: its batches stream through one Acero
hash join whose hash table is built on the business rows (the right input of Acero's join is its
build side). A right outer join yields, for each business row, its base row(s) or none:

* ``missing_from_base`` - the key is not in the base (one finding per business row);
* ``differs``           - the key is in the base and an item's value differs (one finding per item,
                          with both values; a null on one side and a value on the other differs).

Values are compared as text after an exact cast: no trimming or normalising, which is the clean
job's business (Art 22), so what is reported is what the files hold. Business rows without a key
are counted, not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa
import pyarrow.acero as acero
import pyarrow.compute as pc

from fjshare.errors import BadInput

TRACE = ("_bundle", "_provider", "_handler")
FINDINGS_SCHEMA = pa.schema([
    pa.field("key", pa.string()),
    pa.field("finding", pa.string()),        # missing_from_base | differs
    pa.field("item", pa.string()),           # the differing item (null for missing_from_base)
    pa.field("value", pa.string()),          # the business value
    pa.field("base_value", pa.string()),     # the base value
    pa.field("agency", pa.string()),         # who supplied the business row (Art 28)
    pa.field("handler", pa.string()),        # the person or system that handled it
    pa.field("bundle", pa.string()),         # the bundle it came in
])
_BASE_PREFIX = "__base__"
_ROW = "__row__"


@dataclass(frozen=True)
class Comparison:
    findings: pa.Table
    business_rows: int      # rows compared
    keyless_rows: int       # business rows without a key (not compared)
    missing: int            # rows whose key is not in the base
    differing_rows: int     # rows with at least one differing item


def _text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def compare_to_base(business: pa.Table, base: pa.RecordBatchReader | Iterable[pa.RecordBatch], *,
                    key: str, items: list[str], base_schema: pa.Schema | None = None) -> Comparison:
    """Compare ``business`` (with trace columns) with the streamed ``base`` on ``key``. Raises BadInput.

    ``base`` yields batches holding ``key`` and ``items``; pass ``base_schema`` when it is a plain
    iterable rather than a RecordBatchReader.
    """
    missing_cols = [c for c in [key, *items, *TRACE] if c not in business.column_names]
    if missing_cols:
        raise BadInput(f"the business rows have no column(s) {', '.join(missing_cols)}")
    if not isinstance(base, pa.RecordBatchReader):
        if base_schema is None:
            raise BadInput("a base given as batches needs its schema")
        base = pa.RecordBatchReader.from_batches(base_schema, base)
    absent = [c for c in [key, *items] if c not in base.schema.names]
    if absent:
        raise BadInput(f"the base rows have no column(s) {', '.join(absent)}")

    keyless = business[key].null_count
    if keyless:
        business = business.filter(pc.is_valid(business[key]))
    business = business.select([key, *items, *TRACE])
    # One key type on both sides: text unless both agree.
    key_type = business.schema.field(key).type
    if base.schema.field(key).type != key_type:
        business = business.set_column(0, key, _text(business[key]))
        key_type = pa.string()
    base_cols = [key, *items]
    renamed = [_BASE_PREFIX + c for c in base_cols]

    def base_batches() -> Iterable[pa.RecordBatch]:
        for batch in base:
            batch = batch.select(base_cols)
            if batch.schema.field(key).type != key_type:
                batch = batch.set_column(0, key, _text(batch.column(0)))
            yield pa.RecordBatch.from_arrays(batch.columns, names=renamed)

    base_fields = [pa.field(n, key_type if i == 0 else base.schema.field(c).type)
                   for i, (n, c) in enumerate(zip(renamed, base_cols))]
    reader = pa.RecordBatchReader.from_batches(pa.schema(base_fields), base_batches())
    # The hash table holds only each business row's key and position (not its items and trace
    # text): a smaller build side, and the rows are taken back by position afterwards.
    probe = pa.table({key: business[key], _ROW: pa.array(range(business.num_rows), pa.int64())})
    plan = acero.Declaration(
        "hashjoin",
        acero.HashJoinNodeOptions("right outer", left_keys=[_BASE_PREFIX + key], right_keys=[key],
                                  left_output=renamed[1:] + [_BASE_PREFIX + key], right_output=[_ROW]),
        inputs=[acero.Declaration("record_batch_reader_source", acero.RecordBatchReaderSourceNodeOptions(reader)),
                acero.Declaration("table_source", acero.TableSourceNodeOptions(probe))],
    )
    joined = plan.to_table(use_threads=True)

    in_base = pc.is_valid(joined[_BASE_PREFIX + key])
    lost = business.take(joined.filter(pc.invert(in_base))[_ROW])
    found = joined.filter(in_base)
    # Only the compared items are taken for every matched row; whole rows only for the differing ones.
    mine = business.select(items).take(found[_ROW]) if items else None
    parts = [_findings(lost, key, "missing_from_base", None, None, None)]
    any_diff = None
    for item in items:
        a, b = _text(mine[item]), _text(found[_BASE_PREFIX + item])
        differs = pc.fill_null(pc.not_equal(a, b), True)            # null on one side or both ...
        differs = pc.and_(differs, pc.invert(pc.and_(pc.is_null(a), pc.is_null(b))))  # ... but not both
        rows = business.take(found[_ROW].filter(differs))
        parts.append(_findings(rows, key, "differs", item, _text(rows[item]),
                               _text(found[_BASE_PREFIX + item].filter(differs))))
        any_diff = differs if any_diff is None else pc.or_(any_diff, differs)
    findings = pa.concat_tables(parts).sort_by([("key", "ascending"), ("item", "ascending")])
    return Comparison(
        findings=findings, business_rows=business.num_rows, keyless_rows=keyless, missing=lost.num_rows,
        differing_rows=(pc.sum(any_diff).as_py() or 0) if any_diff is not None else 0,
    )


def _findings(rows: pa.Table, key: str, finding: str, item: str | None,
              value: pa.ChunkedArray | None, base_value: pa.ChunkedArray | None) -> pa.Table:
    n = rows.num_rows
    none = pa.nulls(n, pa.string())
    return pa.table([
        _text(rows[key]), pa.repeat(pa.scalar(finding, pa.string()), n),
        none if item is None else pa.repeat(pa.scalar(item, pa.string()), n),
        none if value is None else value, none if base_value is None else base_value,
        _text(rows["_provider"]), _text(rows["_handler"]), _text(rows["_bundle"]),
    ], schema=FINDINGS_SCHEMA)
