"""The catalogue service as a web page (``node serve``): browse, search with facets, entry pages.

Read-only and standard library only: a WSGI application (:func:`make_app`) served by a threaded
``wsgiref`` server (:func:`serve`). Every request opens ``state.db`` read-only (SQLite
``mode=ro``), so the page can never change the catalogue and never holds a lock the daemon needs.
The interface is Chinese; every value from the database is HTML-escaped; pages use plain HTML
forms and links, one stylesheet and no JavaScript.

Routes (GET and HEAD):

=============================  =====================================================================
``/``                          browse published entries, paginated, with facets and a search box
``/search?q=&provider=&...``   search results (``q`` blank: browse) with counts and facets;
                               facet parameters ``provider`` ``region`` ``share_type`` ``topic``,
                               and ``page``
``/entry/<code>``              every field of one entry (``/`` in the code URL-encoded as ``%2F``)
``/api/search?q=&...``         the same search as JSON (``limit``, ``offset`` instead of ``page``)
``/api/entry/<code>``          the entry as JSON
``/static/catalogue.css``      the stylesheet
=============================  =====================================================================

Only published entries are listed; a withdrawn entry's page still answers, marked as withdrawn
(tombstones travel, DESIGN §7); drafts and entries under review are not shown.
"""

from __future__ import annotations

import html
import json
import logging
import re
import socket
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, quote, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from fjshare.catalogue.export import (
    ATTRIBUTE_ZH,
    SHARE_MODE_ZH,
    SHARE_TYPE_ZH,
    STATUS_ZH,
    UPDATE_CYCLE_ZH,
    UPDATE_MODE_ZH,
    item_type_zh,
)
from fjshare.catalogue.search import SearchResult, search
from fjshare.divisions import Divisions, packaged_divisions
from fjshare.errors import BadInput, ConfigError, FjshareError, NotFound

log = logging.getLogger(__name__)

PAGE_SIZE = 20
API_MAX_LIMIT = 200
FACETS: dict[str, str] = {"provider": "提供方", "region": "行政区划", "share_type": "共享类型", "topic": "主题"}
VISIBLE_STATUSES = ("published", "withdrawn")  # entry pages; lists show published only
SHARE_TYPE_MEANING: dict[str, str] = {
    "unconditional": "可提供给所有政务部门共享使用。",
    "conditional": "仅可提供给相关政务部门共享使用，或仅能部分提供给所有政务部门共享使用；"
                   "须经申请、审核和授权（第二十三条至第二十七条）。",
    "none": "依据法律法规不宜提供给其他政务部门共享使用（第四条、第二十一条）。",
}
_HEADERS = [
    ("Content-Security-Policy", (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Response:
    status: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"


# --- reading the catalogue -----------------------------------------------------------------------

def find_entries(
    conn: sqlite3.Connection, text: str, *, facets: Mapping[str, str], limit: int, offset: int, exact: bool = False
) -> SearchResult:
    """Published entries matching ``text`` and the facet values (blank text: all, by code).

    Raises UsageError (from :func:`fjshare.catalogue.search.search`) for a query with nothing to
    search for, an unknown facet or a malformed region.
    """
    return search(conn, text, facets=dict(facets) or None, statuses=("published",), limit=limit, offset=offset,
                  exact=exact)


def read_entry(conn: sqlite3.Connection, code: str) -> dict[str, Any]:
    """The entry JSON of a published or withdrawn resource. Raises NotFound otherwise."""
    placeholders = ",".join("?" * len(VISIBLE_STATUSES))
    row = conn.execute(
        f"SELECT entry, status, revision, origin_node FROM resources WHERE code = ? AND status IN ({placeholders})",
        (code, *VISIBLE_STATUSES),
    ).fetchone()
    if row is None:
        raise NotFound(f"resource {code} is not in the published catalogue")
    entry = json.loads(row["entry"])
    entry.update(status=row["status"], revision=row["revision"], origin_node=row["origin_node"])
    return entry


def _names(conn: sqlite3.Connection, codes: Iterable[str]) -> dict[str, str]:
    codes = list(codes)
    if not codes:
        return {}
    rows = conn.execute(
        f"SELECT code, name FROM resources WHERE status = 'published' AND code IN ({','.join('?' * len(codes))})",
        codes,
    )
    return {r[0]: r[1] for r in rows}


def _provider_names(conn: sqlite3.Connection, result: SearchResult, chosen: str | None) -> dict[str, str]:
    """Names of the providers in the facet, plus the chosen one (which may have no hits left)."""
    names = dict(result.provider_names)
    if chosen and chosen not in names:
        row = conn.execute(
            "SELECT name FROM agencies WHERE code = ? UNION ALL "
            "SELECT provider_name FROM resources WHERE agency = ? AND provider_name IS NOT NULL LIMIT 1",
            (chosen, chosen),
        ).fetchone()
        if row and row[0]:
            names[chosen] = row[0]
    return names


# --- HTML ------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def entry_path(code: str) -> str:
    """``/entry/101001%2F000001``: the page of a resource, its code's ``/`` escaped."""
    return "/entry/" + quote(code, safe="")


def _url(path: str, params: Mapping[str, Any]) -> str:
    query = urlencode([(k, v) for k, v in params.items() if v not in (None, "")])
    return f"{path}?{query}" if query else path


def _highlight(text: str, terms: list[str]) -> str:
    """Escape ``text`` and wrap occurrences of the query terms in ``<mark>``."""
    terms = [t for t in terms if t]
    if not terms:
        return _e(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(_e(text[last:m.start()]))
        out.append(f"<mark>{_e(m.group(0))}</mark>")
        last = m.end()
    out.append(_e(text[last:]))
    return "".join(out)


def _badge(share_type: str | None) -> str:
    label = SHARE_TYPE_ZH.get(share_type or "", share_type or "未标明")
    return f'<span class="badge share-{_e(share_type)}">{_e(label)}</span>'


class _Page:
    """Renders the pages of one application (its title and division names)."""

    def __init__(self, title: str, divisions: Divisions) -> None:
        self.title = title
        self.divisions = divisions

    def region(self, code: str | None) -> str:
        if not code:
            return "—"
        division = self.divisions.get(code)
        return f"{division.name}（{code}）" if division else code

    def facet_label(self, facet: str, value: str, providers: Mapping[str, str]) -> str:
        if facet == "provider":
            return providers.get(value, value)
        if facet == "region":
            division = self.divisions.get(value)
            return division.name if division else value
        if facet == "share_type":
            return SHARE_TYPE_ZH.get(value, value)
        return value

    def layout(self, heading: str, body: str, *, q: str = "", aside: str = "") -> str:
        main = f'<div class="layout"><aside class="facets">{aside}</aside><main>{body}</main></div>' if aside \
            else f'<div class="single"><main>{body}</main></div>'
        return (
            '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(heading)} - {_e(self.title)}</title>"
            '<link rel="stylesheet" href="/static/catalogue.css"></head><body>'
            f'<header class="top"><a class="brand" href="/">{_e(self.title)}</a>'
            '<form class="searchbox" action="/search" method="get" role="search">'
            f'<input type="search" name="q" value="{_e(q)}" placeholder="搜索资源名称、摘要、关键字、信息项、提供方…" '
            'aria-label="搜索"><button type="submit">搜索</button></form></header>'
            f"{main}"
            '<footer>依据《福建省政务信息共享管理办法》（闽政办〔2010〕280号）编制 · 只读目录服务 · '
            '<a href="/api/search">JSON 接口</a></footer>'
            "</body></html>"
        )

    def results(self, listing: SearchResult, *, q: str, chosen: dict[str, str], page: int,
                providers: Mapping[str, str]) -> str:
        base = {"q": q, **chosen}
        terms = q.split()
        aside = []
        for facet, label in FACETS.items():
            values = listing.facets.get(facet) or []
            if not values and facet not in chosen:
                continue
            links = []
            if facet in chosen:
                rest = {k: v for k, v in base.items() if k != facet}
                links.append(
                    f'<li class="chosen"><a href="{_e(_url("/search", rest))}" title="取消此条件">'
                    f'{_e(self.facet_label(facet, chosen[facet], providers))} <span class="x">×</span></a></li>'
                )
            for value, count in values:
                if chosen.get(facet) == value:
                    continue
                link = _url("/search", {**base, facet: value})
                links.append(
                    f'<li><a href="{_e(link)}">{_e(self.facet_label(facet, value, providers))}</a>'
                    f'<span class="count">{count}</span></li>'
                )
            aside.append(f'<section><h2>{_e(label)}</h2><ul>{"".join(links)}</ul></section>')
        pages = max(1, -(-listing.total // PAGE_SIZE))
        if q.strip() and not listing.exact:
            summary = (f"“{_e(q)}” 约有 <strong>{listing.total:,}</strong> 条信息资源"
                       '<span class="estimate">（按最新的匹配估算，筛选项计数同）</span>')
        elif q.strip():
            summary = f"“{_e(q)}” 共找到 <strong>{listing.total}</strong> 条信息资源"
        else:
            summary = f"目录共 <strong>{listing.total}</strong> 条已发布的信息资源"
        if chosen:
            chips = "".join(
                f'<a class="chip" href="{_e(_url("/search", {k: v for k, v in base.items() if k != f}))}">'
                f'{_e(FACETS.get(f, f))}：{_e(self.facet_label(f, v, providers))} ×</a>'
                for f, v in chosen.items()
            )
            summary += f'<span class="chips">{chips}</span>'
        items = []
        for hit in listing.hits:
            code = str(hit.get("code", ""))
            meta = [f'<span class="code">{_e(code)}</span>', _e(hit.get("provider_name") or hit.get("provider_code")),
                    _e(self.region(hit.get("region_code")))]
            if hit.get("topic"):
                meta.append(f"主题：{_e(hit['topic'])}")
            abstract = str(hit.get("abstract") or "")
            if len(abstract) > 160:
                abstract = abstract[:160] + "…"
            items.append(
                f'<li class="hit"><div class="hit-head"><h2><a href="{_e(entry_path(code))}">'
                f'{_highlight(str(hit.get("name", "")), terms)}</a></h2>{_badge(hit.get("share_type"))}</div>'
                f'<p class="meta">{" · ".join(meta)}</p>'
                f'<p class="abstract">{_highlight(abstract, terms)}</p></li>'
            )
        if not items:
            items.append('<li class="empty">没有符合条件的信息资源。请换用其他关键字，或取消部分筛选条件。</li>')
        nav = []
        if page > 1:
            nav.append(f'<a href="{_e(_url("/search", {**base, "page": page - 1}))}">‹ 上一页</a>')
        nav.append(f"<span>第 {page} / {pages} 页</span>")
        if page < pages:
            nav.append(f'<a href="{_e(_url("/search", {**base, "page": page + 1}))}">下一页 ›</a>')
        heading = f"搜索：{q}" if q.strip() else "浏览目录"
        body = (
            f'<p class="summary">{summary}</p><ol class="hits">{"".join(items)}</ol>'
            f'<nav class="pager">{"".join(nav)}</nav>'
        )
        return self.layout(heading, body, q=q, aside="".join(aside) or "<p>暂无筛选项</p>")

    def entry(self, e: Mapping[str, Any], related_names: Mapping[str, str]) -> str:
        code = str(e.get("resource_code", ""))
        share = e.get("share_type")
        dash = "—"

        def row(label: str, value: str) -> str:
            return f"<tr><th>{_e(label)}</th><td>{value or dash}</td></tr>"

        def bool_zh(value: Any) -> str:
            return dash if value is None else ("是" if value else "否")

        def joined(values: Any, labels: Mapping[str, str] | None = None) -> str:
            if not values:
                return dash
            return "、".join(_e(labels.get(v, v) if labels else v) for v in values)

        provider = _e(e.get("provider_name") or "")
        if e.get("provider_code"):
            provider += f' <span class="code">{_e(e["provider_code"])}</span>'
        basics = "".join([
            row("信息资源名称", _e(e.get("name"))),
            row("信息资源代码", f'<span class="code">{_e(code)}</span>'),
            row("元数据标识符", f'<span class="code">{_e(e.get("metadata_id"))}</span>' if e.get("metadata_id") else ""),
            row("信息资源摘要", _e(e.get("abstract"))),
            row("信息资源提供方", provider),
            row("行政区划", _e(self.region(e.get("region_code")))),
            row("资源属性", _e(ATTRIBUTE_ZH.get(e.get("attribute") or "", e.get("attribute")))),
            row("信息资源分类（主题）", _e(e.get("topic"))),
            row("关键字", joined(e.get("keywords"))),
            row("信息资源格式", _e(e.get("format"))),
        ])
        sharing = "".join([
            row("共享类型", _badge(share)),
            row("共享类型说明", _e(SHARE_TYPE_MEANING.get(share or "", ""))),
            row("共享条件", _e(e.get("share_condition"))),
            row("共享依据（法律法规）", _e(e.get("legal_basis"))),
            row("共享方式", joined(e.get("share_modes"), SHARE_MODE_ZH)),
            row("是否向社会开放", bool_zh(e.get("open_to_public"))),
            row("是否涉密", bool_zh(e.get("classified"))),
            row("授权许可", _e(e.get("licence"))),
        ])
        related = "、".join(
            f'<a href="{_e(entry_path(c))}">{_e(related_names.get(c, c))}</a>'
            f' <span class="code">{_e(c)}</span>'
            for c in (e.get("related_codes") or [])
        )
        upkeep = "".join([
            row("更新方式", _e(UPDATE_MODE_ZH.get(e.get("update_mode") or "", e.get("update_mode")))),
            row("更新周期", _e(UPDATE_CYCLE_ZH.get(e.get("update_cycle") or "", e.get("update_cycle")))),
            row("主键信息项", joined(e.get("key"))),
            row("发布日期", _e(e.get("publish_date"))),
            row("关联资源", related),
            row("维护方", _e(e.get("maintainer"))),
            row("元数据更新时间", _e(e.get("metadata_updated"))),
            row("状态", _e(STATUS_ZH.get(e.get("status") or "", e.get("status")))),
            row("版本", _e(e.get("revision"))),
            row("登记节点", _e(self.region(e.get("origin_node")))),
        ])
        item_rows = []
        for n, it in enumerate(e.get("items") or [], start=1):
            item_share = it.get("share_type")
            item_rows.append(
                f"<tr><td>{n}</td><td>{_e(it.get('label') or dash)}</td><td class=\"code\">{_e(it.get('name'))}</td>"
                f"<td>{_e(item_type_zh(str(it.get('type', ''))))} <span class=\"code\">{_e(it.get('type'))}</span></td>"
                f"<td>{_e(it.get('length') or dash)}</td>"
                f"<td>{_badge(item_share) if item_share else '同资源'}</td></tr>"
            )
        items = (
            '<table class="items"><thead><tr><th>序号</th><th>信息项名称</th><th>标识</th><th>数据类型</th>'
            f'<th>长度</th><th>共享类型</th></tr></thead><tbody>{"".join(item_rows)}</tbody></table>'
            if item_rows else "<p>未登记信息项。</p>"
        )
        notice = ('<p class="notice">该信息资源已撤销，以下为撤销前的目录内容。</p>'
                  if e.get("status") == "withdrawn" else "")
        body = (
            f'<nav class="crumbs"><a href="/">目录首页</a> › {_e(e.get("name"))}</nav>{notice}'
            f'<div class="entry-head"><h1>{_e(e.get("name"))}</h1>{_badge(share)}</div>'
            f'<p class="lead">{_e(e.get("abstract"))}</p>'
            f'<section><h2>基本信息</h2><table class="fields">{basics}</table></section>'
            f'<section><h2>共享属性</h2><table class="fields">{sharing}</table></section>'
            f'<section><h2>信息项（{len(item_rows)}）</h2>{items}</section>'
            f'<section><h2>更新与维护</h2><table class="fields">{upkeep}</table></section>'
            f'<p class="alt"><a href="{_e("/api" + entry_path(code))}">以 JSON 查看</a></p>'
        )
        return self.layout(str(e.get("name") or code), body)

    def error(self, status: str, message: str) -> str:
        heading = {"400": "请求有误", "404": "未找到", "405": "不支持的请求方法", "503": "目录暂不可用"}.get(
            status[:3], "服务出错")
        body = f'<h1>{_e(heading)}</h1><p class="error">{_e(message)}</p><p><a href="/">返回目录首页</a></p>'
        return self.layout(heading, body)


# --- the WSGI application --------------------------------------------------------------------------


class CatalogueApp:
    """The WSGI application; one read-only SQLite connection per request."""

    def __init__(self, db_path: Path, *, title: str, divisions: Divisions) -> None:
        self.db_path = Path(db_path)
        self.page = _Page(title, divisions)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        # PEP 3333: PATH_INFO arrives as latin-1 text of the (already unquoted) bytes.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        if method not in ("GET", "HEAD"):
            response = Response("405 Method Not Allowed", self.page.error("405", "目录服务只读，仅支持 GET 请求。").encode())
        else:
            response = self._respond(path, parse_qs(environ.get("QUERY_STRING", "")))
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))), *_HEADERS]
        if response.status.startswith("405"):
            headers.append(("Allow", "GET, HEAD"))
        start_response(response.status, headers)
        return [b""] if method == "HEAD" else [response.body]

    def _respond(self, path: str, query: dict[str, list[str]]) -> Response:
        api = path.startswith("/api/")
        try:
            if path == "/static/catalogue.css":
                css = resources.files("fjshare.catalogue").joinpath("static/catalogue.css").read_bytes()
                return Response("200 OK", css, "text/css; charset=utf-8")
            if path in ("/", "/search", "/api/search"):
                return self._results(query, api=api)
            for prefix in ("/entry/", "/api/entry/"):
                if path.startswith(prefix) and len(path) > len(prefix):
                    return self._entry(path[len(prefix):], api=api)
            raise NotFound(f"没有这个页面：{path}")
        except NotFound as err:
            return self._error("404 Not Found", err.message, api)
        except BadInput as err:
            return self._error("400 Bad Request", err.message, api)
        except (ConfigError, sqlite3.OperationalError) as err:
            log.error("catalogue database unavailable: %s", err)
            return self._error("503 Service Unavailable", "目录数据库暂时无法读取，请稍后再试。", api)
        except FjshareError as err:
            return self._error("400 Bad Request", err.message, api)
        except Exception:  # a page must answer; the traceback goes to the log, not the visitor
            log.exception("catalogue page %s failed", path)
            return self._error("500 Internal Server Error", "服务内部错误，请稍后再试。", api)

    def _error(self, status: str, message: str, api: bool) -> Response:
        if api:
            return _json(status, {"error": message})
        return Response(status, self.page.error(status, message).encode("utf-8"))

    def _connect(self) -> sqlite3.Connection:
        if not self.db_path.exists():
            raise ConfigError(f"no state database at {self.db_path}")
        conn = sqlite3.connect(self.db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def _results(self, query: dict[str, list[str]], *, api: bool) -> Response:
        q = _one(query, "q")
        chosen = {f: v for f in FACETS if (v := _one(query, f))}
        if api:
            limit = min(max(_int(_one(query, "limit"), 50), 1), API_MAX_LIMIT)
            offset = max(_int(_one(query, "offset"), 0), 0)
            page = 1
        else:
            page = max(_int(_one(query, "page"), 1), 1)
            limit, offset = PAGE_SIZE, (page - 1) * PAGE_SIZE
        with closing(self._connect()) as conn:
            exact = api and _one(query, "exact") in ("1", "true", "yes")
            listing = find_entries(conn, q, facets=chosen, limit=limit, offset=offset, exact=exact)
            providers = _provider_names(conn, listing, chosen.get("provider"))
        if api:
            return _json("200 OK", {
                "query": q, "facets_chosen": chosen, "total": listing.total, "exact": listing.exact,
                "limit": limit, "offset": offset,
                "hits": listing.hits,
                "facets": {
                    f: [{"value": v, "label": self.page.facet_label(f, v, providers), "count": n} for v, n in values]
                    for f, values in listing.facets.items()
                },
            })
        html_page = self.page.results(listing, q=q, chosen=chosen, page=page, providers=providers)
        return Response("200 OK", html_page.encode("utf-8"))

    def _entry(self, code: str, *, api: bool) -> Response:
        with closing(self._connect()) as conn:
            entry = read_entry(conn, code)
            related = _names(conn, entry.get("related_codes") or [])
        if api:
            return _json("200 OK", entry)
        return Response("200 OK", self.page.entry(entry, related).encode("utf-8"))


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0].strip() if values else ""


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _json(status: str, payload: Any) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")


def make_app(
    db_path: Path, *, title: str = "政务信息资源目录", divisions: Divisions | None = None
) -> CatalogueApp:
    """The catalogue web application over ``db_path`` (a node's ``state.db``), as a WSGI callable.

    ``title`` heads every page (e.g. the node's name); ``divisions`` names the regions (the
    packaged list by default; pass ``Divisions(extra_file=HOME/divisions.csv)`` for a node's
    additions). Never raises at construction; a missing database answers 503 per request.
    """
    return CatalogueApp(db_path, title=title, divisions=packaged_divisions() if divisions is None else divisions)


# --- the server ------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the ``logging`` module, not to stderr (the CLI decides what prints)."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class CatalogueServer(ThreadingMixIn, WSGIServer):
    """A threaded WSGI server; ``port`` and ``url`` tell where it listens (after binding port 0)."""

    daemon_threads = True
    allow_reuse_address = True

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{self.port}/"


class _CatalogueServer6(CatalogueServer):
    address_family = socket.AF_INET6


def serve(
    db_path: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    title: str = "政务信息资源目录",
    divisions: Divisions | None = None,
) -> CatalogueServer:
    """Bind the catalogue web server (``port=0``: any free port, read it from ``.port``) and return it.

    Call ``.serve_forever()`` to answer requests (one thread per request), ``.shutdown()`` from
    another thread to stop, then ``.server_close()``. Raises ConfigError if ``db_path`` does not
    exist or the address cannot be bound.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise ConfigError(f"no state database at {db_path}", hint="run `node init` first, or pass --home")
    server_class = _CatalogueServer6 if ":" in host else CatalogueServer
    try:
        server = server_class((host, port), _QuietHandler)
    except OSError as err:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {err.strerror or err}",
            hint="choose another port with --listen HOST:PORT, or stop the program using it",
        ) from None
    server.set_app(make_app(db_path, title=title, divisions=divisions))
    return server
