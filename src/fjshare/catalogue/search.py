"""Catalogue search (DESIGN §7): Chinese full text over the ``catalogue_fts`` index, with facets.

SQLite's FTS5 tokenizers do not segment Chinese (``unicode61`` keeps a whole run of Han characters
as one token) and ``trigram`` cannot match a two-character term such as 人口 or 婚姻. So the
index holds *pre-tokenised* text: :func:`tokenize` turns an entry into space-separated tokens
that ``unicode61`` stores one for one, and :func:`search` turns a query into an FTS5 expression
over the same tokens.

The token scheme (one scheme for entries and queries):

* **CJK runs** (Han, kana, Hangul; text is NFKC-normalised first) give every adjacent pair of
  characters, in order, then the last character alone, then every run of three characters:
  常住人口 -> ``常住 住人 人口 口 常住人 住人口``. A two-character query (人口) is one bigram
  token. A longer one becomes an FTS5 *phrase* of its trigrams (婚姻登记 -> ``"婚姻登 姻登记"``):
  the trigrams of one run sit at consecutive positions, so the phrase matches only where those
  characters occur together, and it cannot straddle two runs, because the next run's tokens
  start with its bigrams. Trigrams rather than a phrase of bigrams, because common bigrams
  (登记, 信息) have doclists as long as the catalogue, and a phrase walks every one of its tokens'
  doclists. A single character (婚) is a prefix query (``"婚"*``): every character of a run starts
  a bigram or is the run's last, so the prefix finds them all without indexing every character
  twice.
* **Words** (runs of other letters and digits) are lowercased; ``id_number`` gives ``id``
  ``number`` (unicode61 would split at ``_`` anyway), queried as a phrase with a prefix on the
  last word.
* **Resource codes** ``类1项2目3[细目]/顺序码`` (``101001/000001``) give one code token with the
  ``/`` replaced by ``ǂ`` (U+01C2, a letter to unicode61 and absent from normal text), so
  ``101001ǂ000001`` stays one token; the two parts are also indexed as words. A query for a
  whole code matches the code token, a partial code (``101001/00``) is a prefix of it, and a bare
  ``101001`` is a word prefix that finds every code in that class.

**The index.** ``catalogue_fts`` is a *contentless* FTS5 table with two columns, the name's
tokens and the other text's (code, abstract, keywords, data items, provider name). Its rowid
carries everything a query filters and counts on, so a search never reads ``resources`` for the
matches or the page (the hits come from ``catalogue_search_rows``)::

    status (3 bits) | sequence (27) | share_type (2) | topic (7) | region (10) | provider (14)

Status is the top field, so a status filter is a rowid range FTS5 skips through. Topic, region
and provider are dictionary ids (``catalogue_facet_values``, 0 = no value); share type and
status have fixed ids. The low 33 bits are the *facet key*. The sequence counts writes *down*
within a status: a new entry, or one whose text, status or facet values changed, takes the
number below the lowest in use. So the newest rows have the lowest rowids, published entries
(status id 1) come before the other statuses, and "newest first" is an ascending walk of the
doclists, which FTS5 does a page at a time (walking backwards, it loads a term's whole doclist
first). FTS5 gathers writes in memory only while each goes to a higher rowid than the one
before (it flushes a segment whenever a write goes lower), so a merge defers its FTS5 writes to
the end (:func:`batched`) and writes the deletes, then the inserts, each in rising rowid order.
Status and facet values are read from the entry's ``resources`` row when it is indexed, so every
change to them must reindex the entry (``catalogue.store`` does, on every write).
``catalogue_search_rows`` maps each rowid to its resource code (its own rowid is the index row's
negated, so that new rows, which take the lowest index rowids, are appended at the end of its
B-tree and fill its pages; written in falling order, the pages were left half empty), keeps the
name and abstract a hit shows (the rest of a hit is decoded from the rowid) and the
texts last indexed: a contentless delete must be given the original tokens, and tokenising the
same text again gives them (NFKC is stable for assigned characters; a change to the token scheme
comes with a migration that rebuilds the index).

**Search.** The total and the four facet counts come from the facet keys of the matches, without
touching any table row. A common term matches a fixed share of the catalogue, so counting every
match makes a search of 100,000 entries a hundred times the work of one of 1,000. So, like the
search engines that report "about 3,700 results", the search reads the newest
:data:`EXACT_UP_TO` + 1 matches only (FTS5 walks the doclists newest first and stops). If that is
all of them, the total and the facets are exact. Otherwise they are estimates and the result
says so (``exact`` is False):

* the total: the matches are taken to be as dense in the older writes as among the newest ones
  (see :func:`_estimate_total`), rounded to two significant figures;
* each facet value: its share of the newest matches times that total.

Everything a search does per sampled match or per hit is what makes a search of 100,000 entries
slower than one of 1,000 (at 1,000 a phrase has a handful of matches), so that work is kept in C:
facet keys are decoded into values once per facet dictionary (:meth:`_Dictionary.values`) and
counted with ``Counter``. The sample's size trades latency for accuracy: see :data:`EXACT_UP_TO`.

``exact=True`` (``node catalogue search --exact``, ``exact=1`` on the web API) counts every match
(one ``json_group_array`` of their facet keys, no sorter). Each facet lists its
:data:`FACET_VALUES` most frequent values. The page then comes in *tiers*:

1. entries whose **name** matches the whole query (``score`` :data:`NAME_SCORE`), then
2. entries that match only through the other text (``score`` :data:`OTHER_SCORE`);

within a tier, **newest first** (rowid ascending: published before other statuses, then the
most recently registered or re-keyed). A registrar looking up 婚姻登记 wants the entries *named*
so before those that mention it in an abstract or a data item; bm25 over every match is what
made the earlier design's latency grow with the number of matches. Each tier is an FTS5 query
with ``ORDER BY rowid LIMIT``, which FTS5 stops early; tier 2 is read off the first
``offset + limit`` matches (the newest matches already read, when they reach that far) minus
tier 1's.
"""

from __future__ import annotations

import bisect
import json
import operator
import re
import secrets
import sqlite3
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fjshare.errors import UsageError
from fjshare.state.db import transaction

#: Facet name -> ``resources`` column it counts and filters.
FACETS: dict[str, str] = {
    "provider": "agency",
    "region": "region_code",
    "share_type": "share_type",
    "topic": "topic",
}
STATUSES = ("draft", "submitted", "approved", "returned", "published", "withdrawn")
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_LIMIT = 1000
#: Matches counted one by one before the total and the facets are estimated (``exact=True`` counts all).
#: The sample is what a search of a large catalogue costs beyond one of a small catalogue: at 100,000
#: entries, 50 kept phrases and terms within twice the latency at 1,000 with totals off by 9-13 % on
#: average; 100 took 2.0-2.2 times, off by 6-8 % (BENCHMARKS.md, "Catalogue search").
EXACT_UP_TO = 50
#: Values listed per facet, the most frequent first.
FACET_VALUES = 30

CODE_SEPARATOR = "\u01c2"  # ǂ: a letter to unicode61, so the code token is not split at "/"
# 类1 项2 目3 [细目] / 顺序码; the 细目 is digits in registrations, alphanumeric in older entries.
_CODE = re.compile(r"(?<![0-9a-z])([0-9]{6}[0-9a-z]{0,6})/([0-9]{6})(?![0-9a-z])")
# A code being typed: the classification, "/", and some or none of the sequence.
_CODE_PREFIX = re.compile(r"(?<![0-9a-z])([0-9]{6}[0-9a-z]{0,6})/([0-9]{0,6})(?![0-9a-z])")
_CJK = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han: extension A, unified, compatibility
    "\u3040-\u30ff\u31f0-\u31ff"  # kana
    "\uac00-\ud7af"  # Hangul syllables
    "\U00020000-\U0003134f"  # Han extensions B-G
)
_PIECE = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
_WORD_JOINERS = re.compile(r"[_\-.·]+")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _cjk_tokens(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]] + _trigrams(run)


def _trigrams(run: str) -> list[str]:
    return [run[i : i + 3] for i in range(len(run) - 2)]


def _code_token(classification: str, sequence: str) -> str:
    return f"{classification}{CODE_SEPARATOR}{sequence}"


def tokenize(text: str) -> list[str]:
    """The index tokens of ``text`` (see the module docstring for the scheme).

    >>> tokenize("常住人口 101001/000001 ID_number")
    ['常住', '住人', '人口', '口', '常住人', '住人口', '101001ǂ000001', '101001', '000001', 'id', 'number']
    """
    tokens: list[str] = []
    text = _normalise(text)
    pos = 0
    for m in _CODE.finditer(text):
        tokens.extend(_plain_tokens(text[pos : m.start()]))
        tokens.extend((_code_token(m[1], m[2]), m[1], m[2]))
        pos = m.end()
    tokens.extend(_plain_tokens(text[pos:]))
    return tokens


def _plain_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for m in _PIECE.finditer(text):
        if m[1]:
            tokens.extend(_cjk_tokens(m[1]))
        else:
            tokens.append(m[2])
    return tokens


# --- the index ------------------------------------------------------------------------------------

# The rowid of an entry's catalogue_fts row, most significant field first (63 bits, never negative):
#   status (3) | sequence (27) | share_type (2) | topic (7) | region (10) | provider (14)
# The bits below the sequence are the entry's *facet key*. The sequence counts index writes down within
# a status: a new or re-keyed row takes the number below the lowest in use, so the newest rows come
# first in rowid order (see the module docstring).
_FIELDS: dict[str, tuple[int, int]] = {  # name -> (shift in the rowid, width in bits)
    "provider": (0, 14),
    "region": (14, 10),
    "topic": (24, 7),
    "share_type": (31, 2),
    "sequence": (33, 27),
    "status": (60, 3),
}
_MASKS = {name: (shift, (1 << bits) - 1) for name, (shift, bits) in _FIELDS.items()}  # name -> (shift, mask)
_FACET_BITS = 33  # the facet key: rowid & (2**33 - 1)
_FACET_MASK = (1 << _FACET_BITS) - 1
_STATUS_SHIFT = 60
# Fixed ids, published lowest: newest first (ascending rowid) lists published entries first when
# every status is searched.
_STATUS_IDS = {"published": 1, "approved": 2, "submitted": 3, "returned": 4, "draft": 5, "withdrawn": 6}
_OTHER_STATUS = 7
_SEQUENCES = 1 << 27  # sequence numbers per status: 0 .. 2**27 - 1, handed out from the top down
_SHARE_IDS = {"unconditional": 0, "conditional": 1, "none": 2}
_SHARE_VALUES = {v: k for k, v in _SHARE_IDS.items()}
_NO_SHARE = 3
# Facets whose values get dictionary ids (catalogue_facet_values; 0 = the entry has no value).
_DICTIONARY = ("topic", "region", "provider")
# catalogue_facet_values row whose id is a random stamp, renewed on every change to the dictionary.
_STAMP = ("", "")


def entry_texts(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The searchable text of a catalogue entry: its name, and the rest (code, abstract, keywords,
    data items, provider name)."""
    parts: list[str] = [str(entry.get("resource_code") or entry.get("code") or ""), str(entry.get("abstract") or "")]
    keywords = entry.get("keywords") or []
    if isinstance(keywords, str):
        keywords = [keywords]
    parts += [str(k) for k in keywords]
    items = entry.get("items") or []
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            items = []
    for item in items:
        if isinstance(item, Mapping):
            parts += [str(item.get("name") or ""), str(item.get("label") or "")]
        else:
            parts.append(str(item))
    parts.append(str(entry.get("provider_name") or ""))
    # A newline between fields keeps a CJK run from running on into the next field.
    return str(entry.get("name") or ""), "\n".join(p for p in parts if p)


def _pack(name: str, other: str) -> bytes:
    """The texts an index row was made from, as ``catalogue_search_rows.texts`` keeps them."""
    return zlib.compress(f"{len(name)}\n{name}{other}".encode(), 1)


def _unpack(blob: bytes) -> tuple[str, str]:
    length, _, texts = zlib.decompress(blob).decode("utf-8").partition("\n")
    return texts[: int(length)], texts[int(length) :]


def _index_tokens(name: str, other: str) -> tuple[str, str]:
    """The two columns written to ``catalogue_fts`` for an entry's texts."""
    return " ".join(tokenize(name)), " ".join(tokenize(other))


def _field(name: str, rowid_expr: str = "rowid") -> str:
    shift, mask = _MASKS[name]
    return f"(({rowid_expr} >> {shift}) & {mask})" if shift else f"({rowid_expr} & {mask})"


def _bits(rowid: int, name: str) -> int:
    """Field ``name`` of an index rowid (or of a facet key, for the facet fields)."""
    shift, mask = _MASKS[name]
    return rowid >> shift & mask


def _newest_sequence(conn: sqlite3.Connection, status: int) -> int:
    """The sequence number of the newest row of ``status`` (the lowest in use; 2**27 if none):
    the numbers from it up to 2**27 - 1 have been handed out."""
    low = status << _STATUS_SHIFT
    newest = conn.execute("SELECT -max(rowid) FROM catalogue_search_rows WHERE rowid > ? AND rowid <= ?",
                          (-(low + (1 << _STATUS_SHIFT)), -low)).fetchone()[0]
    return _SEQUENCES if newest is None else _bits(newest, "sequence")


def _handed_out(conn: sqlite3.Connection, status: int) -> int:
    """How many sequence numbers ``status`` has handed out."""
    return _SEQUENCES - _newest_sequence(conn, status)


def _status_ids(statuses: list[str] | None) -> list[int]:
    """The ids of ``statuses`` (None: every status), lowest first."""
    return sorted({_STATUS_IDS[s] for s in statuses}) if statuses is not None else list(range(8))


def _renew_stamp(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR REPLACE INTO catalogue_facet_values (facet, value, id) VALUES (?, ?, ?)",
                 (*_STAMP, secrets.randbits(62)))


def _facet_id(conn: sqlite3.Connection, facet: str, value: Any, label: str | None = None) -> int:
    """The dictionary id of a facet value, allocated on first use (0: no value)."""
    if value is None or value == "":
        return 0
    value = str(value)
    row = conn.execute(
        "SELECT id, label FROM catalogue_facet_values WHERE facet = ? AND value = ?", (facet, value)
    ).fetchone()
    if row is not None:
        if label and row[1] != label:
            conn.execute("UPDATE catalogue_facet_values SET label = ? WHERE facet = ? AND value = ?",
                         (label, facet, value))
            _renew_stamp(conn)
        return row[0]
    new = conn.execute(
        "SELECT coalesce(max(id), 0) + 1 FROM catalogue_facet_values WHERE facet = ?", (facet,)
    ).fetchone()[0]
    if new > _MASKS[facet][1]:
        raise RuntimeError(f"search index: more than {_MASKS[facet][1]} distinct {facet} values")
    conn.execute("INSERT INTO catalogue_facet_values (facet, value, id, label) VALUES (?, ?, ?, ?)",
                 (facet, value, new, label or None))
    _renew_stamp(conn)
    return new


def _key(conn: sqlite3.Connection, row: Sequence[Any]) -> tuple[int, int]:
    """The status id and facet key of a ``resources`` row (status, share_type, topic, region_code,
    agency, provider_name)."""
    status, share_type, topic, region, agency, provider_name = row
    fields = {
        "share_type": _SHARE_IDS.get(share_type, _NO_SHARE),
        "topic": _facet_id(conn, "topic", topic),
        "region": _facet_id(conn, "region", region),
        "provider": _facet_id(conn, "provider", agency, provider_name),
    }
    key = 0
    for name, value in fields.items():
        key |= value << _FIELDS[name][0]
    return _STATUS_IDS.get(status, _OTHER_STATUS), key


def _same_key(rowid: int, status: int, key: int) -> bool:
    return rowid >> _STATUS_SHIFT == status and rowid & _FACET_MASK == key


def _new_rowid(conn: sqlite3.Connection, status: int, key: int) -> int:
    """The next sequence number within ``status``, with ``key``: below every rowid of that status."""
    sequence = _newest_sequence(conn, status) - 1
    if sequence < 0:
        raise RuntimeError("search index: the sequence numbers are used up; rebuild it (reindex_all)")
    return (status << _STATUS_SHIFT) | (sequence << _FIELDS["sequence"][0]) | key


def index_entry(conn: sqlite3.Connection, entry: Mapping[str, Any]) -> None:
    """Replace the search index row of ``entry`` (keyed by ``resource_code``, or ``code``).

    Status and facet values are read from the entry's ``resources`` row, which must be written
    first (the catalogue store does). Runs inside the caller's transaction and does not commit.
    Raises UsageError if the entry has no code or no ``resources`` row.
    """
    code = str(entry.get("resource_code") or entry.get("code") or "")
    if not code:
        raise UsageError("a catalogue entry without a resource_code cannot be indexed")
    row = conn.execute(
        "SELECT status, share_type, topic, region_code, agency, provider_name, name FROM resources WHERE code = ?",
        (code,),
    ).fetchone()
    if row is None:
        raise UsageError(f"catalogue entry {code} has no resources row to index")
    status, key = _key(conn, tuple(row)[:6])
    name, abstract = row[6], entry.get("abstract")  # what a hit shows beside what the rowid encodes
    texts = entry_texts(entry)
    old = conn.execute("SELECT rowid, texts, name, abstract FROM catalogue_search_rows WHERE code = ?",
                       (code,)).fetchone()
    if old is not None:
        old_texts = _unpack(old[1])
        if _same_key(-old[0], status, key) and old_texts == texts:
            if (old[2], old[3]) != (name, abstract):
                conn.execute("UPDATE catalogue_search_rows SET name = ?, abstract = ? WHERE rowid = ?",
                             (name, abstract, old[0]))
            return  # nothing the index holds has changed
        _drop(conn, -old[0], old_texts)
    rowid = _new_rowid(conn, status, key)  # a changed entry moves up: newest first means most recently changed
    conn.execute("INSERT INTO catalogue_search_rows (rowid, code, name, abstract, texts) VALUES (?, ?, ?, ?, ?)",
                 (-rowid, code, name, abstract, _pack(*texts)))
    batch = _BATCHES.get(id(conn))
    if batch is not None:
        batch.inserts[rowid] = texts
    else:
        conn.execute(_FTS_INSERT, (rowid, *_index_tokens(*texts)))


def _drop(conn: sqlite3.Connection, rowid: int, texts: tuple[str, str]) -> None:
    """Remove an index row: its FTS5 row (now, or at the end of the batch) and its search row.
    ``texts`` are those it was indexed from: a contentless delete is given the same tokens."""
    batch = _BATCHES.get(id(conn))
    if batch is None:
        conn.execute(_FTS_DELETE, (rowid, *_index_tokens(*texts)))
    elif batch.inserts.pop(rowid, None) is None:  # a row this batch inserted never reached FTS5
        batch.deletes[rowid] = texts
    conn.execute("DELETE FROM catalogue_search_rows WHERE rowid = ?", (-rowid,))


def unindex(conn: sqlite3.Connection, code: str) -> None:
    """Remove the search index row of ``code`` (if any); runs inside the caller's transaction."""
    old = conn.execute("SELECT -rowid, texts FROM catalogue_search_rows WHERE code = ?", (code,)).fetchone()
    if old is not None:
        _drop(conn, old[0], _unpack(old[1]))


_FTS_INSERT = "INSERT INTO catalogue_fts (rowid, name_tokens, other_tokens) VALUES (?, ?, ?)"
_FTS_DELETE = "INSERT INTO catalogue_fts (catalogue_fts, rowid, name_tokens, other_tokens) VALUES ('delete', ?, ?, ?)"


@dataclass
class _Batch:  # rowid -> the texts (name, other) of the FTS5 rows to delete and to insert
    deletes: dict[int, tuple[str, str]] = field(default_factory=dict)
    inserts: dict[int, tuple[str, str]] = field(default_factory=dict)


_BATCHES: dict[int, _Batch] = {}  # id(connection) -> its open batch


@contextmanager
def batched(conn: sqlite3.Connection) -> Iterator[None]:
    """Defer this connection's writes to the FTS5 index to the end of the block (a merge).

    FTS5 gathers writes in memory only while each goes to a higher rowid than the one before, and
    writes a segment to disk whenever one goes back. Entry by entry, every write goes back (a new
    or changed row takes a rowid below all others of its status); batched, the deletes are written
    first and the inserts after them, each in rising rowid order, so a merge of thousands of
    entries writes a few large segments instead of one small one per change.
    ``catalogue_search_rows`` is written at once, so the block sees its own changes except in
    :func:`search`. Use inside a transaction; if the block raises, roll the
    transaction back (nothing reaches FTS5). Nested blocks join the outer one.
    """
    if id(conn) in _BATCHES:
        yield
        return
    batch = _BATCHES[id(conn)] = _Batch()
    try:
        yield
    finally:
        del _BATCHES[id(conn)]
    if batch.deletes:
        conn.executemany(_FTS_DELETE, ((r, *_index_tokens(*batch.deletes[r])) for r in sorted(batch.deletes)))
    if batch.inserts:
        conn.executemany(_FTS_INSERT, ((r, *_index_tokens(*batch.inserts[r])) for r in sorted(batch.inserts)))


def reindex_all(conn: sqlite3.Connection, progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild the whole search index (and the facet dictionary) from ``resources``; return the number
    of entries indexed. ``progress(done, total)`` is called after each chunk.

    Entries are indexed least recently updated first, so the newest first order survives (entries
    updated at the same moment in the order their rows were first written, not by code, which
    would bunch related entries together and mislead the estimated totals). They go
    in chunks of :data:`REINDEX_CHUNK`, each one FTS5 batch (see :func:`batched`), so the memory
    used does not grow with the catalogue; the index is optimised (merged into one segment) at the
    end. Runs inside the caller's transaction and does not commit.
    """
    conn.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('delete-all')")
    conn.execute("DELETE FROM catalogue_search_rows")
    conn.execute("DELETE FROM catalogue_facet_values")
    codes = [row[0] for row in conn.execute("SELECT code FROM resources ORDER BY updated, rowid")]
    for start in range(0, len(codes), REINDEX_CHUNK):
        chunk = codes[start : start + REINDEX_CHUNK]
        rows = {row[0]: row for row in conn.execute(
            f"SELECT code, name, provider_name, items, entry FROM resources WHERE code IN ({', '.join('?' * len(chunk))})",
            chunk)}
        with batched(conn):
            for code in chunk:
                _, name, provider_name, items, text = rows[code]
                try:
                    entry = json.loads(text) if text else {}
                except ValueError:
                    entry = {}
                if not isinstance(entry, dict):
                    entry = {}
                entry["resource_code"] = code
                entry.setdefault("name", name)
                entry.setdefault("provider_name", provider_name)
                entry.setdefault("items", items)
                index_entry(conn, entry)
        if progress is not None:
            progress(start + len(chunk), len(codes))
    conn.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('optimize')")
    return len(codes)


def compact(conn: sqlite3.Connection, pages: int = 2000) -> bool:
    """One step of index upkeep: merge the FTS5 segments of the index, writing about ``pages`` pages
    (4 KiB each); True if there was work to do (call again until False).

    Every write transaction leaves a segment (an FTS5 b-tree), and a search looks a term up in
    each. FTS5 merges four segments of a size as it writes; this merges two (``usermerge`` is 2,
    set when the index is created), level by level, so the index settles at one segment per size
    class, usually one large one. It never rewrites the large segment for a small change, as an
    ``optimize`` would. Run it in a short transaction of its own, as :func:`compact_until` does
    (the daemon's upkeep when idle, :mod:`fjshare.node.daemon`).
    """
    before = conn.total_changes
    conn.execute("INSERT INTO catalogue_fts (catalogue_fts, rank) VALUES ('merge', ?)", (pages,))
    return conn.total_changes - before >= 2  # FTS5's documented test for "merged something"


def compact_until(conn: sqlite3.Connection, stop: Callable[[], bool] = lambda: False) -> tuple[int, bool]:
    """Index upkeep: :func:`compact` steps, each in a transaction of its own, until the index has
    nothing left to merge or ``stop()`` says to (checked before each step). Returns the steps that
    merged something and whether the index is now merged. The idle daemon stops it when work
    arrives or its time is up; run to the end, it settles a freshly built catalogue."""
    steps = 0
    while not stop():
        with transaction(conn):
            if not compact(conn):
                return steps, True
        steps += 1
    return steps, False


#: Entries indexed per FTS5 batch by :func:`reindex_all`.
REINDEX_CHUNK = 5000


# --- queries --------------------------------------------------------------------------------------

def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _term_clauses(term: str) -> list[str]:
    """FTS5 clauses for one whitespace-separated query term (normalised)."""
    clauses: list[str] = []
    pos = 0
    for m in _CODE_PREFIX.finditer(term):
        clauses += _plain_clauses(term[pos : m.start()])
        token = _code_token(m[1], m[2])
        clauses.append(_quote(token) if len(m[2]) == 6 else _quote(token) + "*")
        pos = m.end()
    clauses += _plain_clauses(term[pos:])
    return clauses


def _plain_clauses(text: str) -> list[str]:
    clauses: list[str] = []
    words: list[str] = []  # words joined only by _ - . · form one phrase (id_number)
    last_end = -1

    def flush() -> None:
        if words:
            clauses.append(_quote(" ".join(words)) + "*")
            words.clear()

    for m in _PIECE.finditer(text):
        if m[1]:
            flush()
            run = m[1]
            clauses.append(_quote(run) + "*" if len(run) == 1 else _quote(run) if len(run) == 2
                           else _quote(" ".join(_trigrams(run))))
        else:
            if words and not _WORD_JOINERS.fullmatch(text[last_end : m.start()] or "_"):
                flush()
            words.append(m[2])
        last_end = m.end()
    flush()
    return clauses


def match_expression(text: str) -> str | None:
    """The FTS5 MATCH expression for a user's query, or None if it holds no searchable term.

    Terms (split at white space) are ANDed; see the module docstring for each kind. Every token
    is a quoted string, so FTS5 operators typed by the user (quotes, ``*``, ``AND``, ``NEAR``,
    ``column:``) are searched as text or dropped, never interpreted.

    Raises UsageError for a query longer than 500 characters or of more than 32 terms.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"the search text is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    clauses: list[str] = []
    for term in _normalise(text).split():
        for clause in _term_clauses(term):
            if clause not in clauses:
                clauses.append(clause)
    if len(clauses) > MAX_QUERY_TERMS:
        raise UsageError(
            f"the search has {len(clauses)} terms; the limit is {MAX_QUERY_TERMS}",
            hint="search for fewer, more specific words",
        )
    return " AND ".join(clauses) if clauses else None


@dataclass(frozen=True)
class SearchResult:
    """One page of hits, the total number of matches and the facet counts (estimates if not ``exact``).

    ``facets`` maps each facet name (``provider``, ``region``, ``share_type``, ``topic``) to
    ``(value, count)`` pairs, most frequent first; ``provider_names`` maps the provider codes
    seen in the facet to their names.
    """

    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, list[tuple[str, int]]]
    provider_names: dict[str, str] = field(default_factory=dict)
    exact: bool = True  # False: ``total`` and the facet counts are estimates (see :func:`search`)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: facet values as ``{"value", "count"}`` objects, providers with ``name``."""
        facets: dict[str, list[dict[str, Any]]] = {}
        for name, pairs in self.facets.items():
            facets[name] = []
            for value, count in pairs:
                item: dict[str, Any] = {"value": value, "count": count}
                if name == "provider" and value in self.provider_names:
                    item["name"] = self.provider_names[value]
                facets[name].append(item)
        return {"total": self.total, "exact": self.exact, "hits": self.hits, "facets": facets}


def _parse_filters(
    facets: Mapping[str, str | Sequence[str]] | None, statuses: Iterable[str] | None
) -> tuple[list[str] | None, dict[str, list[str]]]:
    """Validated statuses (None: every status) and facet name -> the values any of which may match."""
    if statuses is not None:
        statuses = [statuses] if isinstance(statuses, str) else list(statuses)
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise UsageError(f"unknown status {unknown[0]!r}", hint=f"statuses are {', '.join(STATUSES)}")
        if not statuses:
            raise UsageError("no status to search in", hint=f"give one or more of {', '.join(STATUSES)}")
    chosen: dict[str, list[str]] = {}
    for name, value in (facets or {}).items():
        if name not in FACETS:
            raise UsageError(f"unknown facet {name!r}", hint=f"facets are {', '.join(FACETS)}")
        values = [value] if isinstance(value, str) else list(value)
        values = [v.strip() for v in values if v and v.strip()]
        if not values:
            continue
        if name == "region":
            for v in values:
                _region_range(v)  # validates
        chosen[name] = values
    return statuses, chosen


def _filters(statuses: list[str] | None, chosen: Mapping[str, list[str]]) -> tuple[list[str], list[Any]]:
    """The browse filters: conditions on ``resources r``."""
    where: list[str] = []
    args: list[Any] = []
    if statuses is not None:
        where.append(f"r.status IN ({', '.join('?' * len(statuses))})")
        args += statuses
    for name, values in chosen.items():
        if name == "region":
            cond, cond_args = _region_condition("r.region_code", values)
            where.append(cond)
            args += cond_args
        else:
            where.append(f"r.{FACETS[name]} IN ({', '.join('?' * len(values))})")
            args += values
    return where, args


def _region_condition(column: str, values: list[str]) -> tuple[str, list[str]]:
    ors: list[str] = []
    args: list[str] = []
    for v in values:
        low, high = _region_range(v)
        if low == high:
            ors.append(f"{column} = ?")
            args.append(low)
        else:
            ors.append(f"({column} >= ? AND {column} < ?)")
            args += [low, high]
    return "(" + " OR ".join(ors) + ")", args


def _index_filters(statuses: list[str] | None, chosen: Mapping[str, list[str]]) -> tuple[str, list[Any]] | None:
    """The filters as conditions on the ``catalogue_fts`` rowid (None: nothing can match).

    Status is the top bits, so it becomes a rowid range that FTS5 uses to skip through the
    doclists; the facets are bit fields tested against the ids of the chosen values (a region
    filter takes every dictionary region in the division's code range).
    """
    status_ids = _status_ids(statuses)
    conds = ["rowid >= ?", "rowid <= ?"]
    args: list[Any] = [status_ids[0] << _STATUS_SHIFT, ((status_ids[-1] + 1) << _STATUS_SHIFT) - 1]
    if len(status_ids) != status_ids[-1] - status_ids[0] + 1:
        conds.append(f"(rowid >> {_STATUS_SHIFT}) IN ({', '.join(map(str, status_ids))})")
    if "share_type" in chosen:
        share_ids = sorted({_SHARE_IDS[v] for v in chosen["share_type"] if v in _SHARE_IDS})
        if not share_ids:
            return None
        conds.append(f"{_field('share_type')} IN ({', '.join(map(str, share_ids))})")
    for name in _DICTIONARY:
        if name not in chosen:
            continue
        if name == "region":
            cond, cond_args = _region_condition("value", chosen[name])
        else:
            cond, cond_args = f"value IN ({', '.join('?' * len(chosen[name]))})", chosen[name]
        conds.append(f"{_field(name)} IN (SELECT id FROM catalogue_facet_values WHERE facet = '{name}' AND {cond})")
        args += cond_args
    return "".join(f" AND {c}" for c in conds), args


def _region_range(code: str) -> tuple[str, str]:
    """A region filter: a province takes in its cities and counties, a city its counties.

    Returns ``(code, code)`` for an exact match, else the half-open range ``[low, high)``.
    """
    if not re.fullmatch(r"[0-9]{6}", code):
        raise UsageError(f"region {code!r} is not a six-digit division code (GB/T 2260)", hint="e.g. 350200 for 厦门市")
    if code.endswith("0000"):
        return code, f"{int(code[:2]) + 1:02d}0000"
    if code.endswith("00"):
        return code, f"{int(code[:4]) + 1:04d}00"
    return code, code


_HIT_COLUMNS = (
    "r.code, r.name, json_extract(r.entry, '$.abstract') AS abstract, r.agency AS provider_code, r.provider_name,"
    " r.region_code, r.share_type, r.topic, r.status"
)
_HIT_KEYS = ("code", "name", "abstract", "provider_code", "provider_name", "region_code", "share_type", "topic",
             "status")
#: ``score`` of a hit whose name matches the whole query, and of any other hit.
NAME_SCORE, OTHER_SCORE = 1.0, 0.5


class _Dictionary:
    """The facet dictionary of one database, shared by its connections and reloaded when its stamp
    changes: facet keys decoded into what a search shows (see :meth:`values`)."""

    _cache: ClassVar[dict[int, _Dictionary]] = {}
    #: Decoded facet keys kept per dictionary before the cache of them is emptied.
    MAX_KEYS = 1 << 16

    def __init__(self, ids: Mapping[str, Mapping[int, tuple[str, str | None]]]) -> None:
        self.ids = ids  # facet -> id -> (value, label)
        self.labels = {value: label for value, label in ids["provider"].values() if label}  # provider names
        self._values: dict[int, tuple[str | None, ...]] = {}

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> _Dictionary:
        cur = conn.cursor()
        cur.row_factory = None
        row = cur.execute("SELECT id FROM catalogue_facet_values WHERE facet = ? AND value = ?", _STAMP).fetchone()
        stamp = row[0] if row is not None else None
        if stamp is not None and stamp in cls._cache:
            return cls._cache[stamp]
        ids: dict[str, dict[int, tuple[str, str | None]]] = {name: {} for name in _DICTIONARY}
        for facet, fid, value, label in cur.execute(
            "SELECT facet, id, value, label FROM catalogue_facet_values WHERE facet != ''"
        ):
            if facet in ids:
                ids[facet][fid] = (value, label)
        dictionary = cls(ids)
        if stamp is not None:
            if len(cls._cache) >= 16:
                cls._cache.clear()
            cls._cache[stamp] = dictionary
        return dictionary

    def values(self, keys: Sequence[int]) -> list[tuple[str | None, ...]]:
        """The facet values of each facet key: (provider, provider's name, region, share type,
        topic); None where the entry has no value. Each key is decoded once, then looked up.

        Safe to call from the web server's threads: the cache is only added to, or emptied, and a
        key missing from it is decoded again."""
        decoded = self._values
        try:
            return list(map(decoded.__getitem__, keys))  # no Python code per key once they are known
        except KeyError:
            if len(decoded) >= self.MAX_KEYS:
                decoded.clear()
            result = []
            for key in keys:
                values = decoded.get(key)
                if values is None:
                    values = decoded[key] = self._decode(key)
                result.append(values)
            return result

    def _decode(self, key: int) -> tuple[str | None, ...]:
        provider = self.ids["provider"].get(_bits(key, "provider"), _NO_VALUE)
        return (provider[0], provider[1], self.ids["region"].get(_bits(key, "region"), _NO_VALUE)[0],
                _SHARE_VALUES.get(_bits(key, "share_type")), self.ids["topic"].get(_bits(key, "topic"), _NO_VALUE)[0])


def search(
    conn: sqlite3.Connection,
    text: str,
    *,
    facets: Mapping[str, str | Sequence[str]] | None = None,
    statuses: Iterable[str] | None = ("published",),
    limit: int = 50,
    offset: int = 0,
    exact: bool = False,
) -> SearchResult:
    """Search the catalogue for ``text`` among entries in ``statuses`` (None: every status).

    ``facets`` filters by facet name -> value (or values, any of which may match): ``provider``
    (USCC), ``region`` (a division code; a city takes in its counties, the province everything),
    ``share_type``, ``topic``. The total and the facet counts are those of all matches after the
    filters when there are at most :data:`EXACT_UP_TO` of them, or when ``exact``; otherwise they
    are estimated from the newest :data:`EXACT_UP_TO` matches, and the result says so (``exact``).
    Empty ``text`` browses: every entry that passes the filters, by code. Hits whose name matches
    the whole query come first (``score`` 1.0), then the others (0.5); see the module docstring
    for the order within each.

    Read-only; needs no transaction. Raises UsageError for a query with no searchable term (only
    punctuation, say), an unknown facet or status, a malformed region, or a bad ``limit``/``offset``.
    """
    if not 0 <= limit <= MAX_LIMIT or offset < 0:
        raise UsageError(f"limit must be 0..{MAX_LIMIT} and offset 0 or more")
    statuses, chosen = _parse_filters(facets, statuses)
    if not text.strip():
        return _browse(conn, *_filters(statuses, chosen), limit, offset)
    expression = match_expression(text)
    if expression is None:
        raise UsageError(
            f"nothing to search for in {text!r}",
            hint="give words, Chinese text or a resource code (punctuation and operators are ignored)",
        )
    empty = SearchResult(total=0, hits=[], facets={name: [] for name in FACETS})
    index_filters = _index_filters(statuses, chosen)
    if index_filters is None:
        return empty
    cond, args = index_filters
    cur = conn.cursor()
    cur.row_factory = None
    matches = f"SELECT rowid FROM catalogue_fts WHERE catalogue_fts MATCH ?{cond}"
    newest: list[int] | None = None  # the newest matches, newest first, when they were read
    try:
        if exact:  # the facet key of every match in one JSON array (cheaper than a GROUP BY's sorter)
            keys = json.loads(cur.execute(f"SELECT json_group_array(rowid & {_FACET_MASK}) FROM ({matches})",
                                          [expression, *args]).fetchone()[0])
            total, estimated = len(keys), False
        else:  # the newest EXACT_UP_TO + 1 matches: FTS5 walks the doclists from the newest and stops
            newest = json.loads(cur.execute(f"SELECT json_group_array(rowid) FROM ({matches} ORDER BY rowid LIMIT ?)",
                                            [expression, *args, EXACT_UP_TO + 1]).fetchone()[0])
            estimated = len(newest) > EXACT_UP_TO
            if estimated:
                del newest[EXACT_UP_TO:]
            keys = list(map(_FACET_MASK.__and__, newest))
            total = _estimate_total(conn, newest, statuses) if estimated else len(newest)
    except sqlite3.OperationalError as e:  # an expression the builder should never have produced
        raise UsageError(f"cannot search for {text!r}: {e}") from None
    if not keys:
        return empty
    dictionary = _Dictionary.load(conn)
    facet_counts, names = _facet_counts(dictionary, keys, scale=total / len(keys) if estimated else 1)
    # The page: name matches (tier 1), then the other matches (tier 2), each newest first (rowid
    # ascending). FTS5 walks the doclists in that order and stops at the LIMIT.
    end = offset + limit
    page_sql = f"{matches} ORDER BY rowid LIMIT ?"
    tier1 = [r[0] for r in cur.execute(page_sql, [f"name_tokens : ({expression})", *args, end])]
    page = [(rowid, NAME_SCORE) for rowid in tier1[offset:]]
    if len(tier1) < end and (len(tier1) < total or estimated):
        # Tier 1 is exhausted, and the first `end` matches hold every tier-2 row the page needs.
        first = newest if newest is not None and (len(newest) >= end or not estimated) else [
            r[0] for r in cur.execute(page_sql, [expression, *args, end])]
        in_tier1 = set(tier1)
        tier2 = [rowid for rowid in first[:end] if rowid not in in_tier1]
        page += [(rowid, OTHER_SCORE) for rowid in tier2[max(0, offset - len(tier1)): end - len(tier1)]]
    return SearchResult(total=total, hits=_hits(conn, page, dictionary), facets=facet_counts, provider_names=names,
                        exact=not estimated)


def _estimate_total(conn: sqlite3.Connection, newest: list[int], statuses: list[str] | None) -> int:
    """The number of matches estimated from the newest ones (``newest``, newest first).

    Sequence numbers are handed out in write order (downwards) within each status, and statuses
    are walked lowest id first. So the matches of the statuses before the last match's are all
    among the newest, and counted; the rest lie in the sequences the walk did not reach: the older
    ones of the last match's status (up to 2**27 - 1) and those of the statuses after it (one
    query each for how many they have handed out: none when one status is searched, as the
    catalogue's readers do). They are taken to be as dense there as the newest matches are from
    the first to the last of that status, or, if the last is its status's only one, from the
    newest write to the last match. Rounded to two significant figures, and above the matches seen.
    """
    last = newest[-1]
    last_status, last_sequence = last >> _STATUS_SHIFT, _bits(last, "sequence")
    start = bisect.bisect_left(newest, last_status << _STATUS_SHIFT)  # newest ascends: its first row in that status
    ids = _status_ids(statuses)
    unseen = _SEQUENCES - 1 - last_sequence + sum(_handed_out(conn, status) for status in ids if status > last_status)
    if len(newest) - start >= 2:
        density = (len(newest) - start - 1) / (last_sequence - _bits(newest[start], "sequence"))
    else:  # too few in the status to measure a density there: the whole span walked instead
        spanned = last_sequence - _newest_sequence(conn, last_status) + 1 + sum(
            _handed_out(conn, status) for status in ids if status < last_status)
        density = len(newest) / spanned
    return _rounded(len(newest) + density * unseen, len(newest))


def _rounded(estimate: float, seen: int) -> int:
    """An estimated total to two significant figures, and above the ``seen`` matches."""
    digits = max(0, len(str(int(estimate))) - 2)
    return max(seen + 1, int(round(estimate, -digits)))


def _facet_counts(
    dictionary: _Dictionary, keys: list[int], scale: float = 1
) -> tuple[dict[str, list[tuple[str, int]]], dict[str, str]]:
    """The facet counts (the :data:`FACET_VALUES` most frequent values of each facet) and the
    provider names, from the facet keys of the matches; counts are multiplied by ``scale`` (an
    estimate from a sample; 1, or more than 1) and rounded.

    This runs on every search, for up to :data:`EXACT_UP_TO` keys, so no Python code runs per key:
    the keys are decoded through the dictionary's cache (``map``), transposed (``zip``) and counted
    (``Counter``); only the most frequent values are scaled and sorted.
    """
    provider, _, region, share_type, topic = zip(*dictionary.values(keys))
    result: dict[str, list[tuple[str, int]]] = {}
    for name, values in (("provider", provider), ("region", region), ("share_type", share_type), ("topic", topic)):
        counter = Counter(values)
        counter.pop(None, None)  # entries without the field are not a facet value
        top = sorted(counter.items(), key=_SECOND, reverse=True)[:FACET_VALUES]
        if scale != 1:  # scale > 1 (the estimated total exceeds the sample), so every count stays at least 1
            top = [(value, int(n * scale + 0.5)) for value, n in top]
        top.sort(key=_FIRST)  # most frequent first, then by value (both sorts are stable)
        top.sort(key=_SECOND, reverse=True)
        result[name] = top
    labels = dictionary.labels
    return result, {code: labels[code] for code, _ in result["provider"] if code in labels}


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)


def _hits(conn: sqlite3.Connection, page: list[tuple[int, float]], dictionary: _Dictionary) -> list[dict[str, Any]]:
    """The hit dicts of the index rows ``page`` ((rowid, score)), in that order.

    Code, name and abstract come from ``catalogue_search_rows``; the provider (and its name), region,
    share type, topic and status from the rowid, through the facet ``dictionary``.
    """
    if not page:
        return []
    cur = conn.cursor()
    cur.row_factory = None
    rows = cur.execute(
        f"SELECT -rowid, code, name, abstract FROM catalogue_search_rows WHERE rowid IN ({', '.join('?' * len(page))})",
        [-rowid for rowid, _ in page]).fetchall()
    by_rowid = {row[0]: row for row in rows}
    hits = []
    for (rowid, score), values in zip(page, dictionary.values([rowid & _FACET_MASK for rowid, _ in page])):
        row = by_rowid.get(rowid)
        if row is None:  # changed by another connection between the two statements
            continue
        hits.append({
            "code": row[1], "name": row[2], "abstract": row[3], "provider_code": values[0], "provider_name": values[1],
            "region_code": values[2], "share_type": values[3], "topic": values[4],
            "status": _STATUS_NAMES.get(rowid >> _STATUS_SHIFT), "score": score,
        })
    return hits


_STATUS_NAMES = {v: k for k, v in _STATUS_IDS.items()}
_NO_VALUE: tuple[None, None] = (None, None)


def _browse(conn: sqlite3.Connection, where: list[str], args: list[Any], limit: int, offset: int) -> SearchResult:
    cond = " WHERE " + " AND ".join(where) if where else ""
    rows = conn.execute(
        f"SELECT {_HIT_COLUMNS} FROM resources r{cond} ORDER BY r.code LIMIT ? OFFSET ?", [*args, limit, offset])
    hits = [dict(zip(_HIT_KEYS, tuple(row)), score=None) for row in rows]
    counters: dict[str, Counter[str]] = {}
    for name, column in FACETS.items():
        counters[name] = Counter(dict(conn.execute(
            f"SELECT r.{column}, count(*) FROM resources r{cond} GROUP BY r.{column}", args).fetchall()))
    total = sum(counters["share_type"].values())  # share_type is NOT NULL: every row is counted once
    names = dict(conn.execute(
        f"SELECT r.agency, max(r.provider_name) FROM resources r{cond} GROUP BY r.agency", args).fetchall())
    names = {k: v for k, v in names.items() if v}
    return SearchResult(total=total, hits=hits, facets=_sorted_facets(counters), provider_names=names)


def _sorted_facets(counters: Mapping[str, Counter[str]]) -> dict[str, list[tuple[str, int]]]:
    """Most frequent first, then by value; entries without the field are not a facet value."""
    return {
        name: sorted(((v, n) for v, n in c.items() if v is not None and v != ""), key=lambda p: (-p[1], p[0]))
        for name, c in counters.items()
    }
