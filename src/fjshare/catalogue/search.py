"""Catalogue search (DESIGN §7): Chinese full text over the ``catalogue_fts`` index, with facets.

SQLite's FTS5 tokenizers do not segment Chinese (``unicode61`` keeps a whole run of Han characters
as one token) and ``trigram`` cannot match a two-character term such as 人口 or 婚姻. So the
index holds *pre-tokenised* text: :func:`tokenize` turns an entry into space-separated tokens
that ``unicode61`` stores one for one, and :func:`search` turns a query into an FTS5 expression
over the same tokens.

The token scheme (one scheme for entries and queries):

* **CJK runs** (Han, kana, Hangul; text is NFKC-normalised first) give every adjacent pair of
  characters, in order, then the last character alone: 常住人口 -> ``常住 住人 人口 口``. The
  bigrams of one run sit at consecutive positions, so a query run of two or more characters
  becomes an FTS5 *phrase* of its bigrams (婚姻登记 -> ``"婚姻 姻登 登记"``), which matches only
  where those characters occur together. A single character (婚) is a prefix query (``"婚"*``):
  every character of a run starts a bigram or is the run's last, so the prefix finds them all
  without indexing every character twice. A phrase of bigrams cannot straddle two runs: the
  last character of the first run (one character, never a bigram) sits between them.
* **Words** (runs of other letters and digits) are lowercased; ``id_number`` gives ``id``
  ``number`` (unicode61 would split at ``_`` anyway), queried as a phrase with a prefix on the
  last word.
* **Resource codes** ``类1项2目3[细目]/顺序码`` (``101001/000001``) give one code token with the
  ``/`` replaced by ``ǂ`` (U+01C2, a letter to unicode61 and absent from normal text), so
  ``101001ǂ000001`` stays one token; the two parts are also indexed as words. A query for a
  whole code matches the code token, a partial code (``101001/00``) is a prefix of it, and a bare
  ``101001`` is a word prefix that finds every code in that class.

The name is indexed twice, which weights it over the abstract and the items in the bm25 rank.

FTS rows are keyed by a rowid derived from the resource code (:func:`_slot`), so replacing or
removing the index row of one entry is a point lookup, never a scan of the ``code`` column
(which FTS5 cannot index). Status and the facet columns are read from ``resources`` at query
time, so a workflow change needs no reindex to be filtered correctly.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fjshare.errors import UsageError

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
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def _code_token(classification: str, sequence: str) -> str:
    return f"{classification}{CODE_SEPARATOR}{sequence}"


def tokenize(text: str) -> list[str]:
    """The index tokens of ``text`` (see the module docstring for the scheme).

    >>> tokenize("常住人口 101001/000001 ID_number")
    ['常住', '住人', '人口', '口', '101001ǂ000001', '101001', '000001', 'id', 'number']
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

def _slot(code: str) -> int:
    """The FTS rowid of ``code``: 62 bits of its BLAKE2b hash (a window of 8 absorbs collisions)."""
    return int.from_bytes(hashlib.blake2b(code.encode("utf-8"), digest_size=8).digest(), "big") >> 2


_SLOTS = 8


def entry_text(entry: Mapping[str, Any]) -> str:
    """The searchable text of a catalogue entry: code, name (twice), abstract, keywords, items, provider."""
    parts: list[str] = [str(entry.get("resource_code") or entry.get("code") or "")]
    name = str(entry.get("name") or "")
    parts += [name, name, str(entry.get("abstract") or "")]
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
    return "\n".join(p for p in parts if p)


def index_entry(conn: sqlite3.Connection, entry: Mapping[str, Any]) -> None:
    """Replace the search index row of ``entry`` (keyed by ``resource_code``, or ``code``).

    Runs inside the caller's transaction and does not commit. Raises UsageError if the entry has
    no code.
    """
    code = str(entry.get("resource_code") or entry.get("code") or "")
    if not code:
        raise UsageError("a catalogue entry without a resource_code cannot be indexed")
    free = _remove(conn, code)
    conn.execute(
        "INSERT INTO catalogue_fts (rowid, tokens, code) VALUES (?, ?, ?)",
        (free, " ".join(tokenize(entry_text(entry))), code),
    )


def unindex(conn: sqlite3.Connection, code: str) -> None:
    """Remove the search index row of ``code`` (if any); runs inside the caller's transaction."""
    _remove(conn, code)


def _remove(conn: sqlite3.Connection, code: str) -> int:
    """Delete the index row of ``code``; return the rowid its (new) row should take."""
    first = _slot(code)
    rows = conn.execute(
        "SELECT rowid, code FROM catalogue_fts WHERE rowid BETWEEN ? AND ?", (first, first + _SLOTS - 1)
    ).fetchall()
    taken = {r[0] for r in rows}
    for rowid, row_code in rows:
        if row_code == code:
            conn.execute("DELETE FROM catalogue_fts WHERE rowid = ?", (rowid,))
            taken.discard(rowid)
    for rowid in range(first, first + _SLOTS):
        if rowid not in taken:
            return rowid
    raise RuntimeError(f"search index: {_SLOTS} resource codes share the hash slot of {code}")  # never in practice


def reindex_all(conn: sqlite3.Connection) -> int:
    """Rebuild the whole search index from ``resources``; return the number of entries indexed.

    Runs inside the caller's transaction and does not commit.
    """
    conn.execute("DELETE FROM catalogue_fts")
    n = 0
    for row in conn.execute("SELECT code, name, provider_name, items, entry FROM resources").fetchall():
        try:
            entry = json.loads(row[4]) if row[4] else {}
        except ValueError:
            entry = {}
        if not isinstance(entry, dict):
            entry = {}
        entry["resource_code"] = row[0]
        entry.setdefault("name", row[1])
        entry.setdefault("provider_name", row[2])
        entry.setdefault("items", row[3])
        index_entry(conn, entry)
        n += 1
    conn.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('optimize')")
    return n


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
            clauses.append(_quote(run) + "*" if len(run) == 1 else _quote(" ".join(_cjk_tokens(run)[:-1])))
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
    """One page of hits, the total number of matches and the facet counts over all of them.

    ``facets`` maps each facet name (``provider``, ``region``, ``share_type``, ``topic``) to
    ``(value, count)`` pairs, most frequent first; ``provider_names`` maps the provider codes
    seen in the facet to their names.
    """

    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, list[tuple[str, int]]]
    provider_names: dict[str, str] = field(default_factory=dict)

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
        return {"total": self.total, "hits": self.hits, "facets": facets}


def _filters(
    facets: Mapping[str, str | Sequence[str]] | None, statuses: Iterable[str] | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if statuses is not None:
        statuses = [statuses] if isinstance(statuses, str) else list(statuses)
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise UsageError(f"unknown status {unknown[0]!r}", hint=f"statuses are {', '.join(STATUSES)}")
        if not statuses:
            raise UsageError("no status to search in", hint=f"give one or more of {', '.join(STATUSES)}")
        where.append(f"r.status IN ({', '.join('?' * len(statuses))})")
        args += statuses
    for name, value in (facets or {}).items():
        if name not in FACETS:
            raise UsageError(f"unknown facet {name!r}", hint=f"facets are {', '.join(FACETS)}")
        values = [value] if isinstance(value, str) else list(value)
        values = [v.strip() for v in values if v and v.strip()]
        if not values:
            continue
        column = FACETS[name]
        if name == "region":
            ors: list[str] = []
            for v in values:
                low, high = _region_range(v)
                if low == high:
                    ors.append("r.region_code = ?")
                    args.append(low)
                else:
                    ors.append("(r.region_code >= ? AND r.region_code < ?)")
                    args += [low, high]
            where.append("(" + " OR ".join(ors) + ")")
        else:
            where.append(f"r.{column} IN ({', '.join('?' * len(values))})")
            args += values
    return where, args


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


def search(
    conn: sqlite3.Connection,
    text: str,
    *,
    facets: Mapping[str, str | Sequence[str]] | None = None,
    statuses: Iterable[str] | None = ("published",),
    limit: int = 50,
    offset: int = 0,
) -> SearchResult:
    """Search the catalogue for ``text`` among entries in ``statuses`` (None: every status).

    ``facets`` filters by facet name -> value (or values, any of which may match): ``provider``
    (USCC), ``region`` (a division code; a city takes in its counties, the province everything),
    ``share_type``, ``topic``. The facet counts are those of all matches after the filters.
    Empty ``text`` browses: every entry that passes the filters, by code. Hits are ranked by
    bm25 (``score``: higher is better), then by code.

    Read-only; needs no transaction. Raises UsageError for a query with no searchable term (only
    punctuation, say), an unknown facet or status, a malformed region, or a bad ``limit``/``offset``.
    """
    if not 0 <= limit <= MAX_LIMIT or offset < 0:
        raise UsageError(f"limit must be 0..{MAX_LIMIT} and offset 0 or more")
    where, args = _filters(facets, statuses)
    if not text.strip():
        return _browse(conn, where, args, limit, offset)
    expression = match_expression(text)
    if expression is None:
        raise UsageError(
            f"nothing to search for in {text!r}",
            hint="give words, Chinese text or a resource code (punctuation and operators are ignored)",
        )
    # One pass over the matches gives the rank, the total and the facets. The FTS table drives the
    # join (CROSS JOIN fixes the order); resources is probed by code for status and facet columns.
    cond = "".join(f" AND {w}" for w in where)
    try:
        matches = conn.execute(
            "SELECT f.rank, r.code, r.agency, r.region_code, r.share_type, r.topic, r.provider_name"
            f" FROM catalogue_fts f CROSS JOIN resources r ON r.code = f.code WHERE catalogue_fts MATCH ?{cond}",
            [expression, *args],
        ).fetchall()
    except sqlite3.OperationalError as e:  # an expression the builder should never have produced
        raise UsageError(f"cannot search for {text!r}: {e}") from None
    counters: dict[str, Counter[str]] = {name: Counter() for name in FACETS}
    provider, region, share_type, topic = (counters[n] for n in ("provider", "region", "share_type", "topic"))
    names: dict[str, str] = {}
    for m in matches:
        provider[m[2]] += 1
        region[m[3]] += 1
        share_type[m[4]] += 1
        topic[m[5]] += 1
        if m[6] and m[2] not in names:
            names[m[2]] = m[6]
    top = heapq.nsmallest(offset + limit, matches, key=lambda m: (m[0], m[1]))[offset:]
    hits = _hits(conn, [m[1] for m in top], {m[1]: m[0] for m in top})
    return SearchResult(total=len(matches), hits=hits, facets=_sorted_facets(counters), provider_names=names)


def _hits(conn: sqlite3.Connection, codes: list[str], ranks: dict[str, float] | None) -> list[dict[str, Any]]:
    """The hit dicts of ``codes``, in that order; ``score`` is minus the bm25 rank (None: browsing)."""
    if not codes:
        return []
    rows = conn.execute(
        f"SELECT {_HIT_COLUMNS} FROM resources r WHERE r.code IN ({', '.join('?' * len(codes))})", codes
    ).fetchall()
    by_code = {row[0]: dict(zip(_HIT_KEYS, tuple(row))) for row in rows}
    hits = []
    for code in codes:
        hit = by_code.get(code)
        if hit is None:  # removed by another connection between the two statements
            continue
        hit["score"] = round(-ranks[code], 4) if ranks is not None else None
        hits.append(hit)
    return hits


def _browse(conn: sqlite3.Connection, where: list[str], args: list[Any], limit: int, offset: int) -> SearchResult:
    cond = " WHERE " + " AND ".join(where) if where else ""
    codes = [r[0] for r in conn.execute(
        f"SELECT r.code FROM resources r{cond} ORDER BY r.code LIMIT ? OFFSET ?", [*args, limit, offset])]
    counters: dict[str, Counter[str]] = {}
    for name, column in FACETS.items():
        counters[name] = Counter(dict(conn.execute(
            f"SELECT r.{column}, count(*) FROM resources r{cond} GROUP BY r.{column}", args).fetchall()))
    total = sum(counters["share_type"].values())  # share_type is NOT NULL: every row is counted once
    names = dict(conn.execute(
        f"SELECT r.agency, max(r.provider_name) FROM resources r{cond} GROUP BY r.agency", args).fetchall())
    names = {k: v for k, v in names.items() if v}
    return SearchResult(total=total, hits=_hits(conn, codes, None), facets=_sorted_facets(counters),
                        provider_names=names)


def _sorted_facets(counters: Mapping[str, Counter[str]]) -> dict[str, list[tuple[str, int]]]:
    """Most frequent first, then by value; entries without the field are not a facet value."""
    return {
        name: sorted(((v, n) for v, n in c.items() if v is not None and v != ""), key=lambda p: (-p[1], p[0]))
        for name, c in counters.items()
    }
