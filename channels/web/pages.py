"""The 督办驾驶舱 web pages (aiohttp): overview, lists, task page, indicators, 大屏, login.

Read-only, server-rendered (Jinja2, autoescaped), phone-first. Every page needs a valid
session cookie (started by a single-use login link from chat) or, for the 大屏 page only, a
screen token; every page applies the viewer's scope (``bot.services.dashboard.scope_of``)
the way the chat does, so a cadre who edits a task id in the address gets 403. Pages carry a
strict Content-Security-Policy: scripts and styles only from /dashboard/static/ (the page's
chart data travel in ``data-chart`` attributes, never in inline scripts), no other origin.
Database work runs in a worker thread, so the webhooks on the same server are not held up.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.app import Duban
from bot.models import Person
from bot.permissions import Action, allowed
from bot.services import dashboard as dash
from bot.services import web_access
from bot.services.indicators import fmt_value
from bot.services.ledger_export import export_ledger
from bot.services.lights import LIGHT_NAMES
from bot.services.people import role_label
from bot.services.text import fmt_number, fmt_pp, fmt_signed

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
ECHARTS_FILE = "echarts-5.6.0.common.min.js"
PREFIX = "/dashboard"
COOKIE = "duban_session"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

NOT_LOGGED_IN = "请先登录:在聊天里给督办助手发“驾驶舱”,点收到的链接。"
FORBIDDEN_TASK = "你没有权限查看这个事项(只能看本人和本专班的事项)。"
SCREEN_BAD = "大屏链接无效或已被撤销。请管理员在聊天里发 /screen new 重新生成。"

DUBAN = web.AppKey("dashboard_duban", Duban)
JINJA = web.AppKey("dashboard_jinja", Environment)
WHO = web.RequestKey("dashboard_who", dict)


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(LIGHT_NAMES=LIGHT_NAMES, LIGHT_ORDER=dash.LIGHT_ORDER, LISTS=dash.LISTS,
                       PREFIX=PREFIX, ECHARTS=f"{PREFIX}/static/{ECHARTS_FILE}")
    env.filters.update(num=fmt_number, signed=fmt_signed, pp=fmt_pp, value=fmt_value,
                       md=lambda d: f"{d:%m-%d}" if d else "", ymd=lambda d: f"{d:%Y-%m-%d}" if d else "",
                       hm=lambda t: f"{t:%m-%d %H:%M}" if t else "")
    return env


# ---------------------------------------------------------------- plumbing

def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    html = request.app[JINJA].get_template(template).render(**context)
    response = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.enable_compression()
    return response


def _message(request: web.Request, status: int, title: str, text: str) -> web.Response:
    return _page(request, "message.html", status=status, title=title, text=text)


async def _db(request: web.Request, work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work(session, now, *args)`` in a worker thread, in one read transaction."""
    duban = request.app[DUBAN]

    def run() -> Any:
        with duban.sessions.begin() as session:
            return work(session, duban.clock.now(), *args)
    return await duban.workers.run(run)


def _secure(request: web.Request) -> bool:
    setting = request.app[DUBAN].config.dashboard.secure_cookies
    if setting != "auto":
        return setting == "true"
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.scheme == "https" or forwarded == "https"


@web.middleware
async def security_headers(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith(PREFIX):
            for name, value in SECURITY_HEADERS.items():
                exc.headers.setdefault(name, value)
        raise
    if request.path.startswith(PREFIX):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def _viewer(session, now: datetime, key: bytes, secret: Optional[str]) -> Optional[Person]:
    return web_access.session_person(session, now, key, secret)


async def _who(request: web.Request) -> Optional[dict[str, Any]]:
    """The logged-in viewer as plain values (id, name, role …), or None."""
    key = request.app[DUBAN].web_key()

    def work(session, now):
        person = _viewer(session, now, key, request.cookies.get(COOKIE))
        if person is None:
            return None
        return {"id": person.id, "name": person.name, "role": person.role, "is_admin": person.is_admin,
                "team_id": person.team_id, "label": role_label(person),
                "scope": dash.scope_of(person), "may_rank": allowed(person, Action.RANK)}
    return await _db(request, work)


def _filters(request: web.Request, who: dict[str, Any]) -> dash.Filters:
    def number(name: str) -> Optional[int]:
        value = request.query.get(name, "").strip()
        return int(value) if value.isdigit() else None
    light = request.query.get("light") or None
    return dash.Filters(team_id=number("team"), light=light if light in LIGHT_NAMES else None,
                        category=(request.query.get("category") or "").strip()[:32] or None,
                        owner_id=number("owner"))


def login_required(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        who = await _who(request)
        if who is None:
            return _message(request, 401, "需要登录", NOT_LOGGED_IN)
        request[WHO] = who
        return await handler(request)
    return wrapped


# ---------------------------------------------------------------- login

async def login_page(request: web.Request) -> web.Response:
    """GET: say whether the link works and offer one button; the link is used only by the
    POST, so chat apps that fetch a link to preview it do not use it up."""
    token = request.query.get("t", "")
    key = request.app[DUBAN].web_key()

    def work(session, now):
        check = web_access.check_link(session, now, key, token)
        return check.problem, check.message, check.person.name if check.person else None
    problem, text, name = await _db(request, work)
    if problem:
        return _message(request, 400 if problem in ("forged", "unknown") else 410, "链接不能用", text)
    return _page(request, "login.html", token=token, name=name,
                 minutes=request.app[DUBAN].config.dashboard.link_minutes)


async def login_post(request: web.Request) -> web.Response:
    form = await request.post()
    token = str(form.get("t", ""))
    duban = request.app[DUBAN]
    key, hours = duban.web_key(), duban.config.dashboard.session_hours

    def work(session, now):
        check, secret = web_access.use_link(session, now, key, token, hours)
        return check.problem, check.message, secret
    problem, text, secret = await _db(request, work)
    if problem:
        return _message(request, 400 if problem in ("forged", "unknown") else 410, "链接不能用", text)
    response = web.Response(status=303, text="See Other", headers={"Location": f"{PREFIX}/"})
    response.set_cookie(COOKIE, secret, max_age=int(hours * 3600), path=f"{PREFIX}/", httponly=True,
                        secure=_secure(request), samesite="Lax")
    return response


async def logout(request: web.Request) -> web.Response:
    key = request.app[DUBAN].web_key()
    await _db(request, lambda session, now: web_access.end_session(session, now, key, request.cookies.get(COOKIE)))
    response = _message(request, 200, "已退出", "已退出驾驶舱。再次打开请在聊天里发“驾驶舱”。")
    response.del_cookie(COOKIE, path=f"{PREFIX}/")
    return response


# ---------------------------------------------------------------- pages

def _query_string(filters: dash.Filters, **more: Any) -> str:
    values = {**filters.as_query(), **{k: v for k, v in more.items() if v is not None}}
    return ("?" + urlencode(values)) if values else ""


@login_required
async def overview_page(request: web.Request) -> web.Response:
    who = request[WHO]
    filters = _filters(request, who)
    rules = request.app[DUBAN].config.ranking

    def work(session, now):
        data = dash.overview(session, now, who["scope"], filters, with_ranking=who["may_rank"], rules=rules)
        return data, dash.filter_choices(session, who["scope"])
    data, choices = await _db(request, work)
    chart = {"type": "lights", "data": [[LIGHT_NAMES[c], data.totals.get(c, 0), c] for c in dash.LIGHT_ORDER]}
    buckets = {"type": "buckets", "data": data.overdue_buckets}
    return _page(request, "overview.html", who=who, o=data, f=filters, choices=choices,
                 qs=_query_string(filters), chart=chart, buckets=buckets, tab="overview")


@login_required
async def list_page(request: web.Request) -> web.Response:
    who = request[WHO]
    which = request.match_info["which"]
    if which not in dash.LISTS:
        return _message(request, 404, "没有这个清单", "没有这个清单。")
    filters = _filters(request, who)
    page = int(request.query["page"]) if request.query.get("page", "").isdigit() else 1

    def work(session, now):
        return dash.task_list(session, now, who["scope"], which, filters, page), \
            dash.filter_choices(session, who["scope"])
    rows, choices = await _db(request, work)
    return _page(request, "list.html", who=who, rows=rows, f=filters, choices=choices, which=which,
                 qs=_query_string(filters), prev_qs=_query_string(filters, page=rows.page - 1),
                 next_qs=_query_string(filters, page=rows.page + 1), tab="list")


@login_required
async def export_xlsx(request: web.Request) -> web.Response:
    who = request[WHO]
    which = request.match_info["which"]
    if which not in dash.LISTS:
        return _message(request, 404, "没有这个清单", "没有这个清单。")
    filters = _filters(request, who)
    duban = request.app[DUBAN]
    path = duban.out_dir / f"web-ledger-{secrets.token_hex(6)}.xlsx"

    def work(session, now):
        person = session.get(Person, who["id"])
        query = dash.task_ids(session, now, who["scope"], which, filters)
        export_ledger(session, now, path, person, tasks_query=query, title=dash.LISTS[which])
        return now
    now = await _db(request, work)
    try:
        body = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    name = f"督办台账-{dash.LISTS[which]}-{now:%Y%m%d}.xlsx"
    return web.Response(body=body, headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": f"attachment; filename=\"ledger.xlsx\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


@login_required
async def task_view(request: web.Request) -> web.Response:
    who = request[WHO]
    raw = request.match_info["task_id"]
    if not raw.isdigit():
        return _message(request, 404, "没有这个事项", "没有这个事项。")

    def work(session, now):
        page = dash.task_page(session, now, int(raw))
        return page, page is not None and who["scope"].allows(page.task), now.date()
    page, ok, today = await _db(request, work)
    if page is None:
        return _message(request, 404, "没有这个事项", "没有这个事项。")
    if not ok:
        return _message(request, 403, "没有权限", FORBIDDEN_TASK)
    task = page.task
    chart = None
    if (task.start_date and task.deadline) or page.progress_points:
        chart = {"type": "progress", "start": f"{task.start_date or ''}", "deadline": f"{task.deadline or ''}",
                 "today": f"{today}", "points": [[f"{d}", p] for d, p in page.progress_points]}
    return _page(request, "task.html", who=who, p=page, t=task, chart=chart, tab="task")


@login_required
async def photo(request: web.Request) -> web.StreamResponse:
    who = request[WHO]
    raw = request.match_info["update_id"]
    if not raw.isdigit():
        raise web.HTTPNotFound()

    def work(session, now):
        found = dash.photo_of(session, int(raw))
        if found is None:
            return None, None
        page_task = dash.task_page(session, now, found[0], timeline_limit=0)
        return found[1], page_task is not None and who["scope"].allows(page_task.task)
    path, ok = await _db(request, work)
    if path is None or not Path(path).is_file():
        return _message(request, 404, "没有这张照片", "没有这张照片。")
    if not ok:
        return _message(request, 403, "没有权限", FORBIDDEN_TASK)
    response = web.FileResponse(path)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
async def indicators_page(request: web.Request) -> web.Response:
    who = request[WHO]
    groups = await _db(request, lambda session, now: dash.indicator_groups(session))
    return _page(request, "indicators.html", who=who, groups=groups, tab="indicators")


async def screen_page(request: web.Request) -> web.Response:
    """大屏: the whole street at 1920×1080, reloading itself; a screen token, no login."""
    token = request.query.get("k", "")
    duban = request.app[DUBAN]
    key = duban.web_key()

    def work(session, now):
        if web_access.screen_valid(session, key, token) is None:
            return None
        return dash.overview(session, now, dash.Scope(), list_size=10, rules=duban.config.ranking), now
    result = await _db(request, work)
    if result is None:
        return _message(request, 403, "大屏链接无效", SCREEN_BAD)
    data, now = result
    chart = {"type": "lights", "big": True,
             "data": [[LIGHT_NAMES[c], data.totals.get(c, 0), c] for c in dash.LIGHT_ORDER]}
    # 未分配 (often most of the items before 交办) is named in the title, not drawn: it would
    # dwarf every 专班's bar
    rows = [r for r in data.matrix if r.team_id != dash.NO_TEAM]
    teams = {"type": "teams", "big": True, "teams": [r.name for r in rows],
             "series": [[LIGHT_NAMES[c], c, [r.counts.get(c, 0) for r in rows]] for c in dash.LIGHT_ORDER]}
    return _page(request, "screen.html", o=data, now=now, chart=chart, teams=teams,
                 refresh=duban.config.dashboard.screen_refresh_seconds, office=duban.config.office)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR or not path.is_file():
        raise web.HTTPNotFound()
    response = web.FileResponse(path)
    # the chart library's name carries its version: cached for a year; our own files an hour
    response.headers["Cache-Control"] = ("public, max-age=31536000, immutable" if name == ECHARTS_FILE
                                         else "public, max-age=3600")
    return response


async def root_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{PREFIX}/")


def install(web_app: web.Application, duban: Duban, notifiers: Any = None) -> bool:
    """Add the 驾驶舱 under /dashboard/ to the shared server (when ``dashboard.enabled``)."""
    if not duban.config.dashboard.enabled:
        return False
    web_app[DUBAN] = duban
    web_app[JINJA] = _env()
    web_app.middlewares.append(security_headers)
    router = web_app.router
    router.add_get(PREFIX, root_redirect)
    router.add_get(f"{PREFIX}/", overview_page)
    router.add_get(f"{PREFIX}/login", login_page)
    router.add_post(f"{PREFIX}/login", login_post)
    router.add_post(f"{PREFIX}/logout", logout)
    router.add_get(f"{PREFIX}/list/{{which}}", list_page)
    router.add_get(f"{PREFIX}/export/{{which}}.xlsx", export_xlsx)
    router.add_get(f"{PREFIX}/task/{{task_id}}", task_view)
    router.add_get(f"{PREFIX}/photo/{{update_id}}", photo)
    router.add_get(f"{PREFIX}/indicators", indicators_page)
    router.add_get(f"{PREFIX}/screen", screen_page)
    router.add_get(f"{PREFIX}/static/{{name}}", static_file)
    return True
