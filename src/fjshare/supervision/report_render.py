"""The evaluation report as a page and as CSV (Art 37, 39, 40). Pure: a report dict in, text out.

The dict is what :func:`fjshare.node.evaluation.evaluate` returns. The page is one
self-contained Chinese HTML document: inline CSS and inline SVG drawn here, no script, font or
stylesheet from elsewhere (the government network has no Internet). Every string is escaped.
What a reviewer at the digital office sees, top to bottom:

* tiles: agencies evaluated, mean score, agencies to watch or to suspend (Art 39), notices of
  inconsistent data past their deadline (Art 40(4)), request duties answered on time;
* chart ``chart-scores``: each agency's score as a bar, coloured by the funding recommendation of
  Art 39, worst first, so the agencies that need attention are at the top;
* chart ``chart-art40``: a heat map of the Art 40 signals, agencies by items (1)-(8), so a
  pattern (one item across many agencies, or one agency across many items) shows at a glance;
* chart ``chart-requests``: request duties answered in time, late, and open past their deadline
  (Art 24-27), per agency;
* chart ``chart-nodes`` (province only): each node's mean score and number of agencies;
* the table of every figure per agency, and the office's findings.

Elements carry ``data-agency``, ``data-signal``, ``data-item`` and ``data-value`` attributes so the
figures can be read back from the DOM (the tests do).
"""

from __future__ import annotations

import csv
import io
from html import escape

ART40 = {
    "1": "目录未建立或未更新", "2": "未及时发布更新共享信息", "3": "重复采集", "4": "不一致数据未核对纠错",
    "5": "共享信息管理失控", "6": "擅自转让或经营性使用", "7": "拒不整改", "8": "其他违规",
}
FUNDING = {"normal": ("正常安排", "#2e7d32"), "watch": ("关注", "#f9a825"), "suspend": ("暂停安排新建项目和运维经费", "#c62828")}
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

CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
header{background:#12355b;color:#fff;padding:18px 32px}header h1{margin:0;font-size:24px}header p{margin:4px 0 0;opacity:.85}
main{padding:20px 32px;max-width:1400px}section{background:#fff;border-radius:6px;padding:16px 20px;margin:0 0 18px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}h2{font-size:18px;margin:0 0 12px;color:#12355b}
.tiles{display:flex;gap:14px;flex-wrap:wrap}.tile{flex:1 1 140px;background:#fff;border-radius:6px;padding:14px 16px;
box-shadow:0 1px 2px rgba(0,0,0,.08);border-top:4px solid #12355b}.tile .v{font-size:30px;font-weight:700}
.tile .l{font-size:13px;color:#52606d}.tile.bad{border-top-color:#c62828}.tile.warn{border-top-color:#f9a825}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e4e7eb;padding:4px 6px;text-align:right}
th{background:#f0f4f8;font-weight:600;min-width:3.5em;vertical-align:bottom}td{white-space:nowrap}td.t,th.t{text-align:left}.legend span{display:inline-block;margin-right:16px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}.none{color:#7b8794}
.note{font-size:12px;color:#52606d}.scroll{overflow-x:auto}
@media print{@page{size:A4 landscape;margin:12mm}body{background:#fff}section,.tile{box-shadow:none;border:1px solid #ddd}
header{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _n(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("是" if value else "否")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return escape(str(value))


def _none() -> str:
    return '<p class="none">无</p>'


def _tiles(report: dict) -> str:
    s = report.get("summary") or {}
    answered, in_time = s.get("requests_answered") or 0, s.get("requests_in_time") or 0
    rate = f"{100 * in_time / answered:.0f}%" if answered else "—"
    tiles = [("agencies", "参评单位", _n(s.get("agencies", 0)), ""),
             ("score_mean", "平均得分", _n(s.get("score_mean")), ""),
             ("watch", "关注单位", _n(s.get("watch", 0)), "warn" if s.get("watch") else ""),
             ("suspend", "建议暂停安排经费 (第39条)", _n(s.get("suspend", 0)), "bad" if s.get("suspend") else ""),
             ("inconsistencies_overdue", "逾期未核对的不一致数据 (第40条第4项)", _n(s.get("inconsistencies_overdue", 0)),
              "bad" if s.get("inconsistencies_overdue") else ""),
             ("requests_in_time", "申请按时办理率", rate, "")]
    return '<div class="tiles">' + "".join(
        f'<div class="tile {cls}" id="tile-{key}" data-value="{escape(str(s.get(key, "")))}"><div class="v">{value}</div>'
        f'<div class="l">{escape(label)}</div></div>' for key, label, value, cls in tiles) + "</div>"


def _label(a: dict, width: int = 12) -> str:
    name = a.get("name") or a["code"]
    return name if len(name) <= width else name[: width - 1] + "…"


def _score_chart(agencies: list[dict]) -> str:
    if not agencies:
        return _none()
    rows = sorted(agencies, key=lambda a: (a.get("score", 0), a["code"]))
    bar_h, left, width = 22, 190, 560
    height = bar_h * len(rows) + 30
    out = [f'<svg id="chart-scores" role="img" aria-label="各单位得分" width="{left + width + 60}" height="{height}" '
           f'viewBox="0 0 {left + width + 60} {height}" font-size="12">']
    for x in (0, 60, 80, 100):
        gx = left + width * x / 100
        out.append(f'<line x1="{gx}" y1="0" x2="{gx}" y2="{height - 20}" stroke="#cbd2d9" stroke-dasharray="3,3"/>'
                   f'<text x="{gx}" y="{height - 6}" text-anchor="middle" fill="#52606d">{x}</text>')
    for i, a in enumerate(rows):
        y = i * bar_h + 4
        score = a.get("score", 0)
        color = FUNDING.get(a.get("funding", "normal"), FUNDING["normal"])[1]
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(_label(a))}</text>'
                   f'<rect data-agency="{escape(a["code"])}" data-value="{score}" x="{left}" y="{y}" '
                   f'width="{max(1.0, width * score / 100):.1f}" height="{bar_h - 6}" fill="{color}"/>'
                   f'<text x="{left + width * score / 100 + 6:.1f}" y="{y + 13}">{score}</text>')
    out.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for t, c in FUNDING.values())
    return "".join(out) + f'<div class="legend">{legend}</div>'


def _heat(n: int, top: int) -> str:
    if not n:
        return "#f5f7fa"
    shade = 0.25 + 0.75 * min(1.0, n / max(top, 1))
    return f"rgba(198,40,40,{shade:.2f})"


def _art40_chart(agencies: list[dict]) -> str:
    if not agencies:
        return _none()
    rows = sorted(agencies, key=lambda a: (-sum((a.get("art40") or {}).values()), a["code"]))
    top = max([n for a in rows for n in (a.get("art40") or {}).values()] + [1])
    cell, left, head = 34, 190, 150
    width, height = left + cell * len(ART40) + 130, head + cell * len(rows)
    out = [f'<svg id="chart-art40" role="img" aria-label="第四十条情形" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-size="12">']
    for j, (item, title) in enumerate(ART40.items()):
        x = left + j * cell + cell / 2
        out.append(f'<text transform="translate({x + 4},{head - 6}) rotate(-60)">({item}) {escape(title)}</text>')
    for i, a in enumerate(rows):
        y = head + i * cell
        out.append(f'<text x="{left - 8}" y="{y + cell / 2 + 4}" text-anchor="end">{escape(_label(a))}</text>')
        for j, item in enumerate(ART40):
            n = (a.get("art40") or {}).get(item, 0)
            x = left + j * cell
            out.append(f'<rect data-agency="{escape(a["code"])}" data-item="{item}" data-value="{n}" x="{x + 1}" '
                       f'y="{y + 1}" width="{cell - 2}" height="{cell - 2}" fill="{_heat(n, top)}"/>')
            if n:
                fill = "#fff" if n / top > 0.5 else "#1f2933"
                out.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" fill="{fill}">{n}</text>')
    out.append("</svg>")
    return "".join(out)


def _requests_chart(agencies: list[dict]) -> str:
    rows = [a for a in agencies if any((a.get("requests") or {}).get(k) for k in ("answered", "open_overdue"))]
    if not rows:
        return _none()
    parts = [("answered_in_time", "按时", "#2e7d32"), ("late", "逾期办理", "#f9a825"), ("open_overdue", "逾期未办", "#c62828")]
    top = max(sum((a["requests"].get(k) or 0) for k, _, _ in parts) for a in rows) or 1
    bar_h, left, width = 22, 190, 480
    height = bar_h * len(rows) + 8
    out = [f'<svg id="chart-requests" role="img" aria-label="申请办理时限" width="{left + width + 60}" height="{height}" '
           f'viewBox="0 0 {left + width + 60} {height}" font-size="12">']
    for i, a in enumerate(rows):
        y, x = i * bar_h + 4, float(left)
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(_label(a))}</text>')
        for key, _, color in parts:
            n = a["requests"].get(key) or 0
            w = width * n / top
            if n:
                out.append(f'<rect data-agency="{escape(a["code"])}" data-signal="{key}" data-value="{n}" x="{x:.1f}" '
                           f'y="{y}" width="{w:.1f}" height="{bar_h - 6}" fill="{color}"/>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 13}">{a["requests"].get("answered_in_time", 0)}/'
                   f'{a["requests"].get("answered", 0) + a["requests"].get("open_overdue", 0)}</text>')
    out.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for _, t, c in parts)
    return "".join(out) + f'<div class="legend">{legend}</div>'


def _nodes_chart(nodes: list[dict]) -> str:
    if not nodes:
        return _none()
    bar_h, left, width = 26, 120, 480
    height = bar_h * len(nodes) + 8
    out = [f'<svg id="chart-nodes" role="img" aria-label="各节点平均得分" width="{left + width + 160}" height="{height}" '
           f'viewBox="0 0 {left + width + 160} {height}" font-size="12">']
    for i, n in enumerate(nodes):
        y, mean = i * bar_h + 4, n.get("score_mean") or 0
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(n.get("name") or n["code"])}</text>'
                   f'<rect data-node="{escape(n["code"])}" data-value="{mean}" x="{left}" y="{y}" '
                   f'width="{max(1.0, width * mean / 100):.1f}" height="{bar_h - 8}" fill="#12355b"/>'
                   f'<text x="{left + width * mean / 100 + 6:.1f}" y="{y + 14}">{_n(mean)}（{n.get("agencies", 0)} 个单位）</text>')
    out.append("</svg>")
    return "".join(out)


def _agency_table(agencies: list[dict]) -> str:
    if not agencies:
        return _none()
    head = ("<tr><th class=t>单位</th><th class=t>统一社会信用代码</th><th>节点</th><th>得分</th><th class=t>经费建议</th>"
            + "".join(f"<th title='{escape(t)}'>({k})</th>" for k, t in ART40.items())
            + "".join(f"<th>{escape(t)}</th>" for _, t in SIGNALS + REQUESTS + SHARING) + "</tr>")
    body = []
    for a in sorted(agencies, key=lambda a: (a.get("score", 0), a["code"])):
        color = FUNDING.get(a.get("funding", "normal"), FUNDING["normal"])[1]
        funding = FUNDING_SHORT.get(a.get("funding", "normal"), "")
        cells = [f'<td class=t>{escape(a.get("name") or "")}</td><td class=t>{escape(a["code"])}</td>',
                 f'<td>{escape(a.get("node") or "")}</td><td data-signal="score" data-value="{a.get("score", 0)}">'
                 f'{a.get("score", 0)}</td><td class=t style="color:{color}" data-signal="funding" '
                 f'data-value="{escape(a.get("funding", ""))}">{escape(funding)}</td>']
        cells += [f'<td data-item="{k}" data-value="{(a.get("art40") or {}).get(k, 0)}">'
                  f'{_n((a.get("art40") or {}).get(k, 0))}</td>' for k in ART40]
        for group, keys in (("signals", SIGNALS), ("requests", REQUESTS), ("sharing", SHARING)):
            values = a.get(group) or {}
            cells += [f'<td data-signal="{k}" data-value="{values.get(k, 0)}">{_n(values.get(k, 0))}</td>' for k, _ in keys]
        body.append(f'<tr data-agency="{escape(a["code"])}">' + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table id="agencies">{head}{"".join(body)}</table></div>'


def _findings(findings: list[dict]) -> str:
    if not findings:
        return _none()
    rows = "".join(
        f'<tr data-finding="{escape(str(f.get("id", "")))}"><td class=t>{escape(str(f.get("at", ""))[:10])}</td>'
        f'<td class=t>{escape(f.get("agency_name") or f.get("agency", ""))}</td>'
        f'<td class=t>({escape(str(f.get("item", "")))}) {escape(ART40.get(str(f.get("item")), ""))}</td>'
        f'<td class=t>{escape(f.get("text", ""))}</td><td class=t>{escape(str(f.get("by", "")))}</td></tr>'
        for f in findings)
    return (f'<table id="findings"><tr><th class=t>日期</th><th class=t>单位</th><th class=t>第四十条</th>'
            f'<th class=t>发现</th><th class=t>记录人</th></tr>{rows}</table>')


def render_html(report: dict) -> str:
    """The evaluation as one self-contained page."""
    node = report.get("node") or {}
    agencies = report.get("agencies") or []
    scope = "全省各节点" if report.get("scope") == "province" else "本市及所辖县（区）单位"
    scoring = report.get("scoring") or {}
    sections = [
        ("各单位得分与经费安排建议（第三十九条）", _score_chart(agencies)),
        ("第四十条情形（每格为信号数）", _art40_chart(agencies)),
        ("共享申请办理时限（第二十四至二十七条）", _requests_chart(agencies)),
    ]
    if report.get("scope") == "province":
        sections.append(("各节点", _nodes_chart(report.get("nodes") or [])))
    sections += [("各单位明细", _agency_table(agencies)), ("督查发现（第四十条）", _findings(report.get("findings") or []))]
    note = ""
    if scoring:
        note = (f'<p class="note">评分规则（本软件默认值，非《办法》规定）：满分 100，按第四十条各项信号扣分并设上限；'
                f'低于 {scoring.get("watch_below")} 分列为关注，低于 {scoring.get("suspend_below")} 分或存在第六、七项发现的，'
                f'建议暂停安排新建项目和运维经费。</p>')
    body = "".join(f"<section><h2>{escape(t)}</h2>{content}</section>" for t, content in sections)
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<title>{escape(str(report.get("period", "")))} 年度政务信息共享绩效评估 - {escape(node.get("name", ""))}</title>'
        f'<style>{CSS}</style></head><body><header><h1>{escape(str(report.get("period", "")))} 年度政务信息共享绩效评估</h1>'
        f'<p>{escape(node.get("name", ""))}（{escape(node.get("code", ""))}）· 范围：{scope} · '
        f'生成时间 {escape(str(report.get("generated", "")))}'
        + (f' · 截至 {escape(str(report["as_of"]))}' if report.get("as_of") else "")
        + f'</p></header><main><section><h2>概况</h2>{_tiles(report)}{note}</section>{body}</main></body></html>\n'
    )


def render_csv(report: dict) -> str:
    """One row per agency, flattened, with stable English column names."""
    columns = ["code", "name", "node", "region", "score", "funding"] + [f"art40_{k}" for k in ART40] \
        + [f"signals_{k}" for k, _ in SIGNALS] + [f"requests_{k}" for k, _ in REQUESTS] + [f"sharing_{k}" for k, _ in SHARING]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for a in report.get("agencies") or []:
        row = [a.get("code"), a.get("name"), a.get("node"), a.get("region"), a.get("score"), a.get("funding")]
        row += [(a.get("art40") or {}).get(k, 0) for k in ART40]
        for group, keys in (("signals", SIGNALS), ("requests", REQUESTS), ("sharing", SHARING)):
            row += [(a.get(group) or {}).get(k, 0) for k, _ in keys]
        writer.writerow(row)
    return buf.getvalue()
