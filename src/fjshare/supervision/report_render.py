"""The evaluation report as a page and as CSV (Art 37, 39, 40). Pure: a report dict in, text out.

The dict is what :func:`fjshare.node.evaluation.evaluate` returns; keys it may lack (``nodes``,
``findings``, ``scoring``, ``as_of``, even ``summary``) are shown as "无" or worked out from the
agencies. The page is one self-contained Chinese HTML document: inline CSS and inline SVG drawn
here, no script, font or stylesheet from elsewhere (the government network has no Internet).
Every string from the report is escaped. Nothing here raises on a well-formed dict.

What a reviewer at the digital office sees, top to bottom:

* header: the year evaluated, the node, the scope (a city sees its own agencies, the province
  every node's), when the figures were taken;
* tiles: agencies evaluated and their mean score (Art 37), agencies to watch and to suspend
  (Art 39), notices of inconsistent data past their deadline (Art 40(4)), the share of request
  duties answered within their deadline (Art 24-27);
* ``chart-scores``: each agency's score as a bar, worst first, coloured by the funding
  recommendation of Art 39, with the watch and suspension thresholds drawn in; it is the basis
  the office hands to the development and finance departments (Art 39);
* ``chart-requests``: each agency's request duties answered in time, answered late, and still
  open past their deadline (Art 24-27), most late first — the "not responding to sharing" of Art 39;
* ``chart-art40``: a heat map of agencies by the eight items of Art 40 with totals per item and
  per agency, so one item failing across many agencies, or one agency failing many items, shows
  at a glance (Art 40: who is to be ordered to correct and criticised);
* ``chart-nodes`` and table ``nodes`` (province only): each node's mean score, agencies and
  Art 40 signals, to compare the cities (Art 37, 41);
* the tables ``agencies`` and ``agencies-more`` with every figure per agency, and the findings
  the office recorded (Art 40(6)-(8), Art 38).

Charts with thousands of agencies (a province) show the ``CHART_ROWS`` that need attention
most and say so; the tables show everyone. Elements carry ``data-agency``, ``data-node``,
``data-signal``, ``data-item`` and ``data-value`` attributes (raw numbers, while the text has
thousands separators) so the figures can be read back from the DOM.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from html import escape

ART40 = {
    "1": "目录未建立或未更新", "2": "未及时发布更新共享信息", "3": "重复采集", "4": "不一致数据未核对纠错",
    "5": "共享信息管理失控", "6": "擅自转让或经营性使用", "7": "拒不整改", "8": "其他违规",
}
ART40_NUMERAL = dict(zip(ART40, "一二三四五六七八"))
ART40_LINES = {"1": ("目录未建立", "或未更新"), "2": ("未及时发布", "更新共享信息"), "3": ("重复采集",),
               "4": ("不一致数据", "未核对纠错"), "5": ("共享信息", "管理失控"), "6": ("擅自转让或", "经营性使用"),
               "7": ("拒不整改",), "8": ("其他违规",)}
FUNDING = {"normal": ("正常安排", "#2e7d32"), "watch": ("关注", "#e6a700"), "suspend": ("暂停安排新建项目和运维经费", "#c62828")}
FUNDING_SHORT = {"normal": "正常", "watch": "关注", "suspend": "暂停"}
SIGNALS = [
    ("entries", "目录条目"), ("entries_published", "已发布"), ("entries_stale", "逾一年未更新 (第17条)"),
    ("entries_unpublished", "登记未发布"), ("resources_without_data", "无数据资源"), ("not_updated", "未按周期更新"),
    ("publication_overdue", "逾期未发布 (第27条)"), ("duplicate_collection", "重复采集"),
    ("inconsistencies", "不一致通知"), ("inconsistencies_resolved", "已核对"), ("inconsistencies_overdue", "逾期未核对"),
    ("out_of_grant_refusals", "授权外使用被拒"), ("findings", "督查发现"), ("flagged_rows", "标识校验未通过行"),
    ("complaints_against", "被投诉"), ("complaints_upheld", "投诉成立"), ("complaints_resolved", "投诉已处理"),
]
REQUESTS = [("made", "提出申请"), ("received", "收到申请"), ("answered", "办理"), ("answered_in_time", "按时"),
            ("late", "逾期办理"), ("open_overdue", "逾期未办"), ("objections", "提出异议"), ("granted", "获得授权")]
SHARING = [("bundles", "数据包"), ("rows", "数据行"), ("uses_by_others", "被使用次数")]
# The detailed table is split in two so that each fits a 1280px screen and an A4 landscape page.
TABLE_A_SIGNALS = SIGNALS[:12]          # catalogue, data, duplicates, inconsistencies, refusals: Art 40(1)-(5)
TABLE_B_SIGNALS = SIGNALS[12:]          # findings, identifier checks, complaints (Art 38)
CHART_ROWS = 40
WATCH_BELOW, SUSPEND_BELOW = 80, 60     # used only when the report does not state its own thresholds
RED, NAVY, GREEN, AMBER = "#c62828", "#12355b", "#2e7d32", "#e6a700"

CSS = """
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:0;color:#1f2933;
background:#eef2f6;font-size:14px}
header{background:#12355b;color:#fff;padding:18px 28px 16px}header h1{margin:0;font-size:24px;letter-spacing:1px}
header .meta{margin:8px 0 0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px;opacity:.92}
header .meta b{font-weight:400;opacity:.7;margin-right:4px}header .basis{font-size:12px;opacity:.7;margin-top:6px}
main{padding:18px 28px 8px}section{background:#fff;border-radius:6px;padding:14px 18px;margin:0 0 16px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}h2{font-size:17px;margin:0 0 10px;color:#12355b}h2 small{font-weight:400;color:#52606d;
font-size:12px;margin-left:8px}.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin:0 0 16px}.grid>section{margin:0}
.tiles{display:grid;grid-template-columns:repeat(6,1fr);gap:12px}.tile{background:#f8fafc;border-radius:6px;padding:10px 14px;
border-top:4px solid #12355b}.tile .v{font-size:30px;font-weight:700;line-height:1.2}.tile .l{font-size:13px;color:#3e4c59}
.tile .s{font-size:12px;color:#7b8794;margin-top:2px}.tile.bad{border-top-color:#c62828}.tile.bad .v{color:#c62828}
.tile.warn{border-top-color:#e6a700}.tile.good{border-top-color:#2e7d32}
svg{max-width:100%;height:auto;display:block}svg text{fill:#1f2933}svg .axis{fill:#7b8794}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{border-bottom:1px solid #e4e7eb;padding:4px 5px;text-align:right}
th{background:#f0f4f8;font-weight:600;vertical-align:bottom;color:#323f4b}thead tr.g th{text-align:center;background:#dfe7ef}
td.t,th.t{text-align:left}td.t{white-space:nowrap}th{min-width:3.2em}td.z{color:#b8c2cc}td small,th small{display:block;color:#7b8794;font-weight:400}
td.hot{background:#fbe3e3;color:#8e1c1c;font-weight:600}td.score{font-weight:700}
.legend{margin-top:6px}.legend span{display:inline-block;margin-right:16px;font-size:12px;color:#3e4c59}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
.none{color:#7b8794;font-size:15px;margin:6px 0}.note{font-size:12px;color:#52606d;margin:8px 0 0}
.pill{display:inline-block;border-radius:9px;padding:0 8px;font-size:12px;color:#fff;white-space:nowrap}
footer{padding:0 28px 20px;font-size:12px;color:#7b8794}
@media screen and (max-width:1100px){.grid{grid-template-columns:1fr}.tiles{grid-template-columns:repeat(3,1fr)}}
@media print{@page{size:A4 landscape;margin:10mm}body{background:#fff;font-size:11px}main{padding:8px 0}header{padding:10px 14px}
section{box-shadow:none;border:1px solid #d9e2ec;break-inside:avoid}section.long{break-inside:auto}
thead{display:table-header-group}tr{break-inside:avoid}table{font-size:10px}.tile .v{font-size:22px}}
"""


def _num(value: object) -> float:
    """A figure as a number; anything missing or malformed counts as 0 rather than breaking the page."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return value


def _n(value: object) -> str:
    """A figure for people: thousands separators, one decimal, a dash for nothing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return escape(str(value))


def _a(value: object) -> str:
    """An attribute value: the raw figure, escaped."""
    return escape("" if value is None else str(value), quote=True)


def _width(text: str, size: float = 12) -> float:
    return sum(size if ord(c) > 0x2E7F else size * 0.6 for c in text)


def _fit(text: str, room: float, size: float = 12) -> str:
    """``text`` cut with an ellipsis to fit ``room`` pixels of an SVG label."""
    if _width(text, size) <= room:
        return text
    while text and _width(text + "…", size) > room:
        text = text[:-1]
    return text + "…"


def _name(a: dict) -> str:
    return str(a.get("name") or a.get("code") or "")


def _none() -> str:
    return '<p class="none">无</p>'


def _funding(a: dict) -> tuple[str, str]:
    return FUNDING.get(str(a.get("funding")), ("—", "#9aa5b1"))


def _heat(n: float, top: float) -> str:
    if not n:
        return "#f3f5f7"
    return f"rgba(198,40,40,{0.18 + 0.82 * min(1.0, n / max(top, 1)):.2f})"


def _svg(chart_id: str, label: str, width: float, height: float) -> str:
    return (f'<svg id="{chart_id}" role="img" aria-label="{_a(label)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-size="12">')


def _legend(parts: list[tuple[str, str]]) -> str:
    return '<div class="legend">' + "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for t, c in parts) + "</div>"


def _limited(rows: list[dict], what: str) -> tuple[list[dict], str]:
    if len(rows) <= CHART_ROWS:
        return rows, ""
    return rows[:CHART_ROWS], f'<p class="note">共 {len(rows):,} 个单位，图中列出{escape(what)}的 {CHART_ROWS} 个，全部单位见明细表。</p>'


def _summary(report: dict) -> dict:
    """The report's summary, with what it lacks worked out from the agencies."""
    agencies = report.get("agencies") or []
    scores = [_num(a.get("score")) for a in agencies]
    worked = {
        "agencies": len(agencies), "score_mean": round(sum(scores) / len(scores), 1) if scores else None,
        "suspend": sum(a.get("funding") == "suspend" for a in agencies),
        "watch": sum(a.get("funding") == "watch" for a in agencies),
        "inconsistencies_overdue": sum(_num((a.get("signals") or {}).get("inconsistencies_overdue")) for a in agencies),
        "requests_answered": sum(_num((a.get("requests") or {}).get("answered")) for a in agencies),
        "requests_in_time": sum(_num((a.get("requests") or {}).get("answered_in_time")) for a in agencies),
    }
    return {**worked, **(report.get("summary") or {})}


def _thresholds(report: dict) -> tuple[float, float]:
    scoring = report.get("scoring") or {}
    return _num(scoring.get("watch_below")) or WATCH_BELOW, _num(scoring.get("suspend_below")) or SUSPEND_BELOW


def _time(value: object) -> str:
    try:
        return dt.datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value or "—")


def _header(report: dict) -> str:
    node = report.get("node") or {}
    period = escape(str(report.get("period", "")))
    scope = "全省各节点" if report.get("scope") == "province" else "本市及所辖县（区）单位"
    tier = {"province": "省级节点", "city": "设区市节点"}.get(str(node.get("tier")), "节点")
    meta = [("节点", f'{escape(str(node.get("name") or ""))}（{escape(str(node.get("code") or ""))}）· {tier}'),
            ("范围", scope),
            ("生成时间", f'<time id="generated" datetime="{_a(report.get("generated"))}">'
                     f'{escape(_time(report.get("generated")))}</time>')]
    if report.get("as_of"):
        meta.append(("数据截至", escape(_time(report["as_of"]))))
    items = "".join(f"<span><b>{k}</b>{v}</span>" for k, v in meta)
    return (f'<header data-period="{period}" data-scope="{_a(report.get("scope"))}"><h1>{period} 年度政务信息共享绩效评估报告</h1>'
            f'<div class="meta">{items}</div><div class="basis">依据《福建省政务信息共享管理办法》（闽政办〔2010〕280号）'
            f'第三十七条至第四十条</div></header>')


def _tiles(report: dict) -> str:
    s = _summary(report)
    answered, in_time = _num(s.get("requests_answered")), _num(s.get("requests_in_time"))
    rate = round(100 * in_time / answered) if answered else None
    watch, _ = _thresholds(report)
    mean = s.get("score_mean")
    nodes = len(report.get("nodes") or [])
    tiles = [
        ("agencies", "参评单位", _n(s.get("agencies")), f"{nodes} 个节点" if nodes else "", ""),
        ("score_mean", "平均得分", _n(mean), "满分 100", "" if mean is None else "warn" if _num(mean) < watch else "good"),
        ("suspend", "建议暂停安排经费", _n(s.get("suspend")), "第三十九条",
         "bad" if s.get("suspend") else ""),
        ("watch", "列为关注单位", _n(s.get("watch")), f"得分低于 {watch:g} 分", "warn" if s.get("watch") else ""),
        ("inconsistencies_overdue", "逾期未核对的不一致数据", _n(s.get("inconsistencies_overdue")), "第四十条第（四）项",
         "bad" if s.get("inconsistencies_overdue") else ""),
        ("requests_in_time", "共享申请按时办理率", "—" if rate is None else f"{rate}%",
         f"{in_time:,} / {answered:,} 件按时办理", "warn" if rate is not None and rate < 90 else ""),
    ]
    out = []
    for key, label, value, sub, cls in tiles:
        extra = f' data-rate="{rate}"' if key == "requests_in_time" and rate is not None else ""
        out.append(f'<div class="tile {cls}" id="tile-{key}" data-value="{_a(s.get(key))}"{extra}><div class="v">{value}</div>'
                   f'<div class="l">{escape(label)}</div><div class="s">{escape(sub)}</div></div>')
    return '<div class="tiles">' + "".join(out) + "</div>"


def _score_chart(report: dict, agencies: list[dict]) -> str:
    if not agencies:
        return _none()
    rows, more = _limited(sorted(agencies, key=lambda a: (_num(a.get("score")), str(a.get("code")))), "得分最低")
    watch, suspend = _thresholds(report)
    left, plot, top, bar = 150, 340, 18, 24
    height = top + bar * len(rows) + 22
    x = lambda v: left + plot * max(0.0, min(100.0, v)) / 100  # noqa: E731
    out = [_svg("chart-scores", "各单位得分", left + plot + 70, height)]
    for tick in range(0, 101, 20):
        out.append(f'<line x1="{x(tick)}" y1="{top - 4}" x2="{x(tick)}" y2="{height - 20}" stroke="#e4e7eb"/>'
                   f'<text class="axis" x="{x(tick)}" y="{height - 6}" text-anchor="middle">{tick}</text>')
    for value, label, color in ((suspend, "暂停线", RED), (watch, "关注线", AMBER)):
        out.append(f'<line x1="{x(value)}" y1="{top - 4}" x2="{x(value)}" y2="{height - 20}" stroke="{color}" '
                   f'stroke-dasharray="4,3"/><text x="{x(value)}" y="11" text-anchor="middle" font-size="11" '
                   f'style="fill:{color}">{label} {value:g}</text>')
    for i, a in enumerate(rows):
        y, score = top + i * bar, _num(a.get("score"))
        title, color = _funding(a)
        short = FUNDING_SHORT.get(str(a.get("funding")), "")
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(_fit(_name(a), left - 12))}</text>'
                   f'<rect data-agency="{_a(a.get("code"))}" data-value="{_a(a.get("score"))}" data-funding="{_a(a.get("funding"))}" '
                   f'x="{left}" y="{y}" width="{max(1.0, x(score) - left):.1f}" height="{bar - 8}" rx="2" fill="{color}">'
                   f'<title>{escape(_name(a))} {escape(str(a.get("code") or ""))}：{_n(a.get("score"))} 分，{escape(title)}</title></rect>'
                   f'<text x="{x(score) + 6:.1f}" y="{y + 13}" font-weight="700">{_n(a.get("score"))}'
                   + (f'<tspan font-weight="400" style="fill:{color}"> {short}</tspan>' if short and short != "正常" else "")
                   + "</text>")
    out.append("</svg>")
    return "".join(out) + _legend([v for v in FUNDING.values()]) + more


def _requests_chart(agencies: list[dict]) -> str:
    parts = [("answered_in_time", "按时办理", GREEN), ("late", "逾期办理", AMBER), ("open_overdue", "逾期未办", RED)]
    req = lambda a, k: _num((a.get("requests") or {}).get(k))  # noqa: E731
    rows = [a for a in agencies if req(a, "answered") or req(a, "open_overdue")]
    if not rows:
        return _none()
    rows.sort(key=lambda a: (-(req(a, "late") + req(a, "open_overdue")), -req(a, "answered"), str(a.get("code"))))
    rows, more = _limited(rows, "逾期最多")
    most = max(sum(req(a, k) for k, _, _ in parts) for a in rows) or 1
    left, plot, bar = 150, 330, 24
    height = bar * len(rows) + 8
    out = [_svg("chart-requests", "共享申请办理时限", left + plot + 80, height)]
    for i, a in enumerate(rows):
        y, x = i * bar + 4, float(left)
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(_fit(_name(a), left - 12))}</text>')
        for key, label, color in parts:
            n = req(a, key)
            if n:
                w = plot * n / most
                out.append(f'<rect data-agency="{_a(a.get("code"))}" data-signal="{key}" data-value="{_a(n)}" x="{x:.1f}" '
                           f'y="{y}" width="{w:.1f}" height="{bar - 8}" fill="{color}"><title>{escape(_name(a))}：'
                           f'{escape(label)} {_n(n)} 件</title></rect>')
                x += w
        due = req(a, "answered") + req(a, "open_overdue")
        out.append(f'<text x="{x + 6:.1f}" y="{y + 13}">{_n(req(a, "answered_in_time"))} / {_n(due)}</text>')
    out.append("</svg>")
    return "".join(out) + _legend([(t, c) for _, t, c in parts]) + more


def _art40_chart(agencies: list[dict]) -> str:
    if not agencies:
        return _none()
    art = lambda a, k: _num((a.get("art40") or {}).get(k))  # noqa: E731
    total = lambda a: sum(art(a, k) for k in ART40)  # noqa: E731
    rows = sorted(agencies, key=lambda a: (-total(a), _num(a.get("score")), str(a.get("code"))))
    rows, more = _limited(rows, "第四十条信号最多")
    top = max([art(a, k) for a in rows for k in ART40] + [1])
    left, cell, row, head = 180, 84, 28, 58
    width, height = left + cell * (len(ART40) + 1), head + row * (len(rows) + 1) + 4
    out = [_svg("chart-art40", "第四十条各项情形", width, height)]
    for j, item in enumerate(list(ART40) + ["sum"]):
        cx = left + j * cell + cell / 2
        lines = (f"（{ART40_NUMERAL[item]}）",) + ART40_LINES[item] if item != "sum" else ("合计",)
        for k, line in enumerate(lines):
            out.append(f'<text x="{cx}" y="{head - 8 - 15 * (len(lines) - 1 - k)}" text-anchor="middle" '
                       f'font-weight="{700 if k == 0 else 400}">{escape(line)}</text>')
    for i, a in enumerate(rows + [None]):
        y = head + i * row
        label = "各项合计" if a is None else _fit(_name(a), left - 12)
        weight = ' font-weight="700"' if a is None else ""
        out.append(f'<text x="{left - 8}" y="{y + row / 2 + 4}" text-anchor="end"{weight}>{escape(label)}</text>')
        for j, item in enumerate(list(ART40) + ["sum"]):
            x = left + j * cell
            if a is None:
                n = sum(art(b, item) for b in rows) if item != "sum" else sum(total(b) for b in rows)
                attrs, fill = f'data-total-item="{item}"', "#dfe7ef"
            else:
                n = art(a, item) if item != "sum" else total(a)
                attrs = f'data-agency="{_a(a.get("code"))}" ' + (f'data-item="{item}"' if item != "sum" else 'data-total="art40"')
                fill = _heat(n, top) if item != "sum" else "#eef2f6"
            out.append(f'<rect {attrs} data-value="{_a(n)}" x="{x + 1}" y="{y + 1}" width="{cell - 2}" height="{row - 2}" '
                       f'fill="{fill}"/>')
            if n or item == "sum":
                dark = ' style="fill:#fff"' if a is not None and item != "sum" and n / top > 0.45 else ""
                bold = ' font-weight="700"' if item == "sum" else ""
                out.append(f'<text x="{x + cell / 2}" y="{y + row / 2 + 4}" text-anchor="middle"{dark}{bold}>{_n(n)}</text>')
    out.append("</svg>")
    return "".join(out) + more


def _nodes(report: dict, agencies: list[dict]) -> str:
    nodes = [n for n in report.get("nodes") or [] if isinstance(n, dict)]
    if not nodes:
        return _none()
    nodes.sort(key=lambda n: (-_num(n.get("score_mean")), str(n.get("code"))))
    left, plot, bar = 150, 420, 26
    out = [_svg("chart-nodes", "各节点平均得分", left + plot + 170, bar * len(nodes) + 8)]
    for i, n in enumerate(nodes):
        y, mean = i * bar + 4, _num(n.get("score_mean"))
        w = max(1.0, plot * max(0.0, min(100.0, mean)) / 100)
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(_fit(_name(n), left - 12))}</text>'
                   f'<rect data-node="{_a(n.get("code"))}" data-value="{_a(n.get("score_mean"))}" x="{left}" y="{y}" '
                   f'width="{w:.1f}" height="{bar - 8}" rx="2" fill="{NAVY}"/>'
                   f'<text x="{left + w + 6:.1f}" y="{y + 14}"><tspan font-weight="700">{_n(n.get("score_mean"))}</tspan>'
                   f' 分 · {_n(n.get("agencies", 0))} 个单位</text>')
    out.append("</svg>")
    top = max([_num((n.get("art40") or {}).get(k)) for n in nodes for k in ART40] + [1])
    head = ('<thead><tr><th class=t>节点</th><th>参评单位</th><th>平均得分</th><th>建议暂停</th><th>关注</th>'
            + "".join(f'<th title="{_a(t)}">（{ART40_NUMERAL[k]}）<small>{"<br>".join(map(escape, ART40_LINES[k]))}</small></th>'
                      for k, t in ART40.items())
            + "</tr></thead>")
    body = []
    for n in nodes:
        mine = [a for a in agencies if a.get("node") == n.get("code")]
        cells = [f'<td class=t>{escape(_name(n))}<small>{escape(str(n.get("code") or ""))}</small></td>',
                 f'<td data-signal="agencies" data-value="{_a(n.get("agencies"))}">{_n(n.get("agencies"))}</td>',
                 f'<td class=score data-signal="score_mean" data-value="{_a(n.get("score_mean"))}">{_n(n.get("score_mean"))}</td>']
        for key in ("suspend", "watch"):
            count = sum(a.get("funding") == key for a in mine)
            cells.append(f'<td data-signal="{key}" data-value="{count}"{" class=z" if not count else ""}>{count}</td>')
        for k in ART40:
            v = (n.get("art40") or {}).get(k, 0)
            style = f' style="background:{_heat(_num(v), top)}{";color:#fff" if _num(v) / top > 0.45 else ""}"' if _num(v) else ""
            cells.append(f'<td data-item="{k}" data-value="{_a(v)}"{style}{"" if _num(v) else " class=z"}>{_n(v)}</td>')
        body.append(f'<tr data-node="{_a(n.get("code"))}">{"".join(cells)}</tr>')
    return "".join(out) + f'<table id="nodes" style="margin-top:12px;width:auto">{head}<tbody>{"".join(body)}</tbody></table>'


def _cell(signal: str, value: object, hot: bool = False) -> str:
    cls = " class=hot" if hot and _num(value) else (" class=z" if not _num(value) else "")
    return f'<td data-signal="{signal}" data-value="{_a(value)}"{cls}>{_n(value)}</td>'


def _agency_tables(report: dict, agencies: list[dict]) -> tuple[str, str]:
    if not agencies:
        return _none(), _none()
    rows = sorted(agencies, key=lambda a: (_num(a.get("score")), str(a.get("code"))))
    watch, suspend = _thresholds(report)
    who = lambda a: (f'<td class=t>{escape(_name(a))}<small>{escape(str(a.get("code") or ""))}</small></td>')  # noqa: E731
    head_a = ('<thead><tr class=g><th rowspan=2 class=t>单位 / 统一社会信用代码</th><th rowspan=2>节点</th><th colspan=2>评估</th>'
              '<th colspan=8>第四十条情形（信号数）</th><th colspan=8>目录与数据</th><th colspan=3>不一致数据（第二十八条）</th>'
              '<th rowspan=2>授权外使用被拒</th></tr><tr><th>得分</th><th class=t>经费建议</th>'
              + "".join(f'<th title="{_a(t)}">（{ART40_NUMERAL[k]}）</th>' for k, t in ART40.items())
              + "".join(f"<th>{escape(t)}</th>" for _, t in TABLE_A_SIGNALS[:8])
              + "".join(f"<th>{escape(t)}</th>" for _, t in TABLE_A_SIGNALS[8:11]) + "</tr></thead>")
    head_b = ('<thead><tr class=g><th rowspan=2 class=t>单位 / 统一社会信用代码</th><th colspan=5>督查与投诉（第三十八条）</th>'
              '<th colspan=8>共享申请（第二十四至二十七条）</th><th colspan=3>共享使用</th></tr><tr>'
              + "".join(f"<th>{escape(t)}</th>" for _, t in TABLE_B_SIGNALS + REQUESTS + SHARING) + "</tr></thead>")
    body_a, body_b = [], []
    for a in rows:
        code, signals, requests, sharing = _a(a.get("code")), a.get("signals") or {}, a.get("requests") or {}, a.get("sharing") or {}
        _, color = _funding(a)
        node = escape(str(a.get("node") or ""))
        if a.get("region") and a.get("region") != a.get("node"):
            node += f'<small>{escape(str(a["region"]))}</small>'
        cells = [who(a), f"<td>{node}</td>",
                 f'<td class=score data-signal="score" data-value="{_a(a.get("score"))}" style="color:{color}">{_n(a.get("score"))}</td>',
                 f'<td class=t data-signal="funding" data-value="{_a(a.get("funding"))}"><span class=pill style="background:{color}">'
                 f'{escape(FUNDING_SHORT.get(str(a.get("funding")), "—"))}</span></td>']
        for k in ART40:
            v = (a.get("art40") or {}).get(k, 0)
            cls = " class=hot" if _num(v) else " class=z"
            cells.append(f'<td data-item="{k}" data-value="{_a(v)}"{cls}>{_n(v)}</td>')
        cells += [_cell(k, signals.get(k, 0), k in ("entries_stale", "inconsistencies_overdue", "publication_overdue"))
                  for k, _ in TABLE_A_SIGNALS]
        body_a.append(f'<tr data-agency="{code}">{"".join(cells)}</tr>')
        more = [who(a)] + [_cell(k, signals.get(k, 0), k == "complaints_upheld") for k, _ in TABLE_B_SIGNALS]
        more += [_cell(k, requests.get(k, 0), k in ("late", "open_overdue")) for k, _ in REQUESTS]
        more += [_cell(k, sharing.get(k, 0)) for k, _ in SHARING]
        body_b.append(f'<tr data-agency="{code}">{"".join(more)}</tr>')
    note = (f'<p class="note">按得分由低到高排列。低于 {watch:g} 分列为关注，低于 {suspend:g} 分或有第（六）、（七）项督查发现的，'
            f'建议暂停安排新建项目和运维经费（第三十九条）。</p>')
    return (f'<table id="agencies">{head_a}<tbody>{"".join(body_a)}</tbody></table>{note}',
            f'<table id="agencies-more">{head_b}<tbody>{"".join(body_b)}</tbody></table>')


def _findings(findings: list[dict]) -> str:
    findings = [f for f in findings if isinstance(f, dict)]
    if not findings:
        return _none()
    rows = []
    for f in sorted(findings, key=lambda f: (str(f.get("at") or ""), str(f.get("id") or ""))):
        item = str(f.get("item") or "")
        label = f"（{ART40_NUMERAL[item]}）{ART40[item]}" if item in ART40 else item
        color = RED if item in ("6", "7") else NAVY
        rows.append(f'<tr data-finding="{_a(f.get("id"))}" data-agency="{_a(f.get("agency"))}" data-item="{_a(item)}">'
                    f'<td class=t>{escape(str(f.get("at") or "")[:10])}</td>'
                    f'<td class=t>{escape(str(f.get("agency_name") or f.get("agency") or ""))}'
                    f'<small>{escape(str(f.get("agency") or ""))}</small></td>'
                    f'<td class=t><span class=pill style="background:{color}">{escape(label)}</span></td>'
                    f'<td class=t style="white-space:normal">{escape(str(f.get("text") or ""))}</td>'
                    f'<td class=t>{escape(str(f.get("by") or ""))}<small>{escape(str(f.get("id") or ""))}</small></td></tr>')
    return ('<table id="findings"><thead><tr><th class=t>日期</th><th class=t>单位</th><th class=t>第四十条</th>'
            f'<th class=t style="width:45%">发现</th><th class=t>记录人 / 编号</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _scoring_note(report: dict) -> str:
    if not report.get("scoring"):
        return ""
    watch, suspend = _thresholds(report)
    return (f'<p class="note">评分规则（本软件默认值，非《办法》规定）：满分 100，按第四十条各项信号扣分并设上限；'
            f'低于 {watch:g} 分列为关注，低于 {suspend:g} 分或存在第（六）、（七）项督查发现的，建议暂停安排新建项目和运维经费。</p>')


def _section(key: str, title: str, body: str, sub: str = "", cls: str = "") -> str:
    small = f"<small>{escape(sub)}</small>" if sub else ""
    return f'<section id="sec-{key}"{f" class={cls}" if cls else ""}><h2>{escape(title)}{small}</h2>{body}</section>'


def render_html(report: dict) -> str:
    """The evaluation as one self-contained page (see the module docstring for what each part shows)."""
    agencies = [a for a in report.get("agencies") or [] if isinstance(a, dict)]
    province = report.get("scope") == "province"
    table_a, table_b = _agency_tables(report, agencies)
    parts = [
        _section("summary", "概况", _tiles(report) + _scoring_note(report)),
        '<div class="grid">'
        + _section("scores", "各单位得分与经费安排建议", _score_chart(report, agencies), "第三十七、三十九条 · 由低到高")
        + _section("requests", "共享申请办理时限", _requests_chart(agencies), "第二十四至二十七条 · 按时 / 应办") + "</div>",
        _section("art40", "第四十条各项情形", _art40_chart(agencies), "每格为该单位该项的信号数，颜色越深越多"),
    ]
    if province:
        parts.append(_section("nodes", "各节点比较", _nodes(report, agencies), "第三十七、四十一条 · 各设区市节点及省直单位"))
    parts += [
        _section("agencies", "各单位明细（一）：得分、第四十条情形、目录与数据", table_a, cls="long"),
        _section("agencies-more", "各单位明细（二）：督查、投诉、共享申请与使用", table_b, cls="long"),
        _section("findings", "督查发现", _findings(report.get("findings") or []), "第三十八、四十条", cls="long"),
    ]
    node = report.get("node") or {}
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f'<title>{escape(str(report.get("period", "")))} 年度政务信息共享绩效评估 - {escape(str(node.get("name") or ""))}</title>'
        f'<style>{CSS}</style></head><body>{_header(report)}<main>{"".join(parts)}</main>'
        '<footer>本报告由 fjshare 节点生成，图表为页内矢量图，可离线查看和打印（A4 横向）。'
        '同一数据可用 <code>node report --format csv</code> 导出。</footer></body></html>\n'
    )


def csv_columns() -> list[str]:
    """The CSV header: stable English names, one per figure."""
    return (["code", "name", "node", "region", "score", "funding"] + [f"art40_{k}" for k in ART40]
            + [f"signals_{k}" for k, _ in SIGNALS] + [f"requests_{k}" for k, _ in REQUESTS] + [f"sharing_{k}" for k, _ in SHARING])


def render_csv(report: dict) -> str:
    """One row per agency (in the report's order), flattened, under :func:`csv_columns`; missing figures are 0."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_columns())
    for a in report.get("agencies") or []:
        row = [a.get("code"), a.get("name"), a.get("node"), a.get("region"), a.get("score"), a.get("funding")]
        row += [(a.get("art40") or {}).get(k, 0) for k in ART40]
        for group, keys in (("signals", SIGNALS), ("requests", REQUESTS), ("sharing", SHARING)):
            row += [(a.get(group) or {}).get(k, 0) for k, _ in keys]
        writer.writerow(row)
    return buf.getvalue()
