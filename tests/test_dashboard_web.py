"""The 督办驾驶舱 through the real aiohttp server (build_web_app on a TestServer): login links
(valid, reused, expired, forged), sessions, role and team checks on every page, screen
tokens (create, revoke), the Excel export, security headers. Links come from the chat, as a
user gets them."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.models import Person, Task, Team, WebAccess
from bot.services import web_access
from channels.server import build_web_app
from tests.conftest import Chat

LINK = re.compile(r"(http://\S+/dashboard/login\?t=\S+)")
SCREEN = re.compile(r"(http://\S+/dashboard/screen\?k=\S+)")
PAGES = ["/dashboard/", "/dashboard/list/all", "/dashboard/list/overdue", "/dashboard/indicators",
         "/dashboard/task/1", "/dashboard/export/all.xlsx", "/dashboard/photo/1"]


@pytest_asyncio.fixture
async def web(sqlite_app):
    web_app, installed = build_web_app(sqlite_app)
    assert "dashboard" in installed
    client = TestClient(TestServer(web_app))
    await client.start_server()
    yield client
    await client.close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def link_for(app, name: str) -> str:
    text = Chat(app, name).say("驾驶舱")
    match = LINK.search(text)
    assert match, text
    return path_of(match.group(1))


async def login(client: TestClient, app, name: str) -> TestClient:
    """A fresh client session logged in as ``name`` (cookies are per client)."""
    path = link_for(app, name)
    token = path.split("t=", 1)[1]
    response = await client.post("/dashboard/login", data={"t": token}, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response


def task_id(app, name: str) -> int:
    with app.sessions() as session:
        return session.scalar(select(Task.id).where(Task.name == name))


def other_team_task(app, team_code: str) -> int:
    with app.sessions() as session:
        return session.scalar(select(Task.id).join(Team, Team.id == Task.team_id)
                              .where(Team.code != team_code).order_by(Task.id))


# ---------------------------------------------------------------- login links

@pytest.mark.asyncio
async def test_login_link_valid_then_reused(web, sqlite_app):
    text = Chat(sqlite_app, "张主任").say("驾驶舱")
    assert "只能用一次" in text and "10分钟内有效" in text and "全街道" in text
    path = path_of(LINK.search(text).group(1))
    landing = await web.get(path)
    assert landing.status == 200
    body = await landing.text()
    assert "张主任,你好" in body and "进入驾驶舱" in body
    # opening the page (a chat app's link preview does this) does not use the link up
    assert (await web.get(path)).status == 200

    token = path.split("t=", 1)[1]
    response = await web.post("/dashboard/login", data={"t": token}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/dashboard/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard/" in cookie
    assert "Secure" not in cookie  # plain http here; see the X-Forwarded-Proto test
    page = await web.get("/dashboard/")
    html = await page.text()
    assert page.status == 200
    assert "全部事项 94 项" in html and "各专班红黄绿" in html and "专班排名" in html
    assert "张主任 · 街道领导·管理员" in html

    again = await web.post("/dashboard/login", data={"t": token}, allow_redirects=False)
    assert again.status == 410
    assert "已经用过了" in await again.text()
    assert "已经用过了" in await (await web.get(path)).text()
    with sqlite_app.sessions() as session:
        kinds = dict(session.execute(select(WebAccess.kind, func.count()).group_by(WebAccess.kind)).all())
    assert kinds == {"link": 1, "session": 1}


@pytest.mark.asyncio
async def test_expired_link_and_expired_session(web, sqlite_app, clock):
    path = link_for(sqlite_app, "张主任")
    clock.advance(timedelta(minutes=11))
    response = await web.post("/dashboard/login", data={"t": path.split("t=", 1)[1]}, allow_redirects=False)
    assert response.status == 410
    assert "链接已过期" in await response.text()
    assert "链接已过期" in await (await web.get(path)).text()
    assert (await web.get("/dashboard/")).status == 401

    await login(web, sqlite_app, "张主任")
    assert (await web.get("/dashboard/")).status == 200
    clock.advance(timedelta(hours=9, minutes=59))
    assert (await web.get("/dashboard/")).status == 200
    clock.advance(timedelta(minutes=2))  # a working day (10 hours) later
    page = await web.get("/dashboard/")
    assert page.status == 401
    assert "请先登录" in await page.text()


@pytest.mark.asyncio
async def test_forged_and_unknown_links(web, sqlite_app):
    path = link_for(sqlite_app, "张主任")
    token = path.split("t=", 1)[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, "abc", "", token.split(".")[0]):
        response = await web.post("/dashboard/login", data={"t": bad}, allow_redirects=False)
        assert response.status == 400
        assert "链接无效" in await response.text()
        assert "Set-Cookie" not in response.headers
    # correctly signed with the server's key but never issued
    unknown = web_access.make_token(sqlite_app.web_key(), web_access.LINK)
    response = await web.post("/dashboard/login", data={"t": unknown}, allow_redirects=False)
    assert response.status == 400 and "链接无效" in await response.text()
    # a session secret or screen token is not a login link
    screen = web_access.make_token(sqlite_app.web_key(), web_access.SCREEN)
    assert (await web.post("/dashboard/login", data={"t": screen}, allow_redirects=False)).status == 400
    # a forged cookie opens nothing
    web.session.cookie_jar.update_cookies({"duban_session": "x" * 20 + "." + "y" * 22})
    assert (await web.get("/dashboard/")).status == 401
    # the real link still works afterwards
    assert (await web.post("/dashboard/login", data={"t": token}, allow_redirects=False)).status == 303


@pytest.mark.asyncio
async def test_no_page_or_data_without_a_session(web, sqlite_app):
    for page in PAGES:
        response = await web.get(page)
        assert response.status == 401, page
        body = await response.text()
        assert "请先登录" in body and "全部事项" not in body
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert (await web.get("/dashboard/screen")).status == 403
    assert (await web.get("/dashboard/screen?k=nope")).status == 403


@pytest.mark.asyncio
async def test_secure_cookie_behind_https_proxy(web, sqlite_app):
    token = link_for(sqlite_app, "张主任").split("t=", 1)[1]
    response = await web.post("/dashboard/login", data={"t": token}, allow_redirects=False,
                              headers={"X-Forwarded-Proto": "https"})
    assert response.status == 303
    assert "; Secure" in response.headers["Set-Cookie"]


@pytest.mark.asyncio
async def test_security_headers_and_no_inline_script(web, sqlite_app):
    await login(web, sqlite_app, "张主任")
    natu = task_id(sqlite_app, "纳图电气")
    for page in ["/dashboard/", "/dashboard/list/all", "/dashboard/indicators", f"/dashboard/task/{natu}"]:
        response = await web.get(page)
        assert response.status == 200, page
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "http" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        html = await response.text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page  # every script is a file
        assert not re.search(r"\sstyle=", html), page                 # no inline styles either
        assert not re.search(r"(src|href)=\"(https?:)?//", html), page  # no other origin
    static = await web.get("/dashboard/static/echarts-5.6.0.common.min.js")
    assert static.status == 200 and "immutable" in static.headers["Cache-Control"]
    assert (await web.get("/dashboard/static/..%2Fpages.py")).status == 404


# ---------------------------------------------------------------- role and team checks

@pytest.mark.asyncio
async def test_cadre_sees_own_team_only_and_gets_403_for_other_tasks(web, sqlite_app):
    text = Chat(sqlite_app, "王干部").say("驾驶舱")
    assert "本人和本专班" in text
    await login(web, sqlite_app, "王干部")
    natu = task_id(sqlite_app, "纳图电气")  # 王干部 owns it (项目一专班)
    own = await web.get(f"/dashboard/task/{natu}")
    assert own.status == 200 and "纳图电气" in await own.text()

    foreign = other_team_task(sqlite_app, "xm1")
    response = await web.get(f"/dashboard/task/{foreign}")
    assert response.status == 403
    assert "没有权限" in await response.text()
    with sqlite_app.sessions() as session:
        unassigned = session.scalar(select(Task.id).where(Task.team_id.is_(None), Task.owner_id.is_(None)))
    assert (await web.get(f"/dashboard/task/{unassigned}")).status == 403
    assert (await web.get("/dashboard/task/999999")).status == 404

    overview = await (await web.get("/dashboard/")).text()
    assert "全部事项 2 项" in overview      # 项目一专班's two tasks
    assert "招商一专班" not in overview and "专班排名" not in overview
    listing = await (await web.get("/dashboard/list/all")).text()
    assert "纳图电气" in listing and "招商" not in listing.split("<main>", 1)[1].split("<section", 1)[1]

    export = await web.get("/dashboard/export/all.xlsx")
    assert export.status == 200
    sheet = load_workbook(io.BytesIO(await export.read())).worksheets[0]
    names = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True) if row[2]]
    assert len(names) == 2 and "纳图电气" in names
    # a filter cannot widen the scope
    with sqlite_app.sessions() as session:
        zs1 = session.scalar(select(Team.id).where(Team.code == "zs1"))
    widened = await (await web.get(f"/dashboard/list/all?team={zs1}")).text()
    assert '<span class="badge">0</span>' in widened


@pytest.mark.asyncio
async def test_team_lead_sees_the_street_and_ranking_with_own_row_marked(web, sqlite_app):
    await login(web, sqlite_app, "李组长")
    html = await (await web.get("/dashboard/")).text()
    assert "全部事项 94 项" in html and "专班排名" in html
    assert re.search(r'<tr class="mine"><td>\d+</td><th><a [^>]*>项目一专班</a>', html)
    foreign = other_team_task(sqlite_app, "xm1")
    assert (await web.get(f"/dashboard/task/{foreign}")).status == 200  # as /task in chat


@pytest.mark.asyncio
async def test_filters_and_lists(web, sqlite_app):
    await login(web, sqlite_app, "张主任")
    with sqlite_app.sessions() as session:
        xm1 = session.scalar(select(Team.id).where(Team.code == "xm1"))
    html = await (await web.get(f"/dashboard/list/all?team={xm1}&light=grey")).text()
    # 中德电力装备产业园 (12-31, never reported) is red under the fair lights: only 纳图电气 is grey
    assert '<span class="badge">1</span>' in html and "纳图电气" in html
    html = await (await web.get("/dashboard/list/all?category=重点项目&light=bogus&team=x")).text()
    assert "全部事项" in html  # bad filter values are ignored, not an error
    assert (await web.get("/dashboard/list/nonsense")).status == 404
    export = await web.get(f"/dashboard/export/all.xlsx?team={xm1}")
    sheet = load_workbook(io.BytesIO(await export.read())).worksheets[0]
    assert len([r for r in sheet.iter_rows(min_row=2, values_only=True) if r[2]]) == 2


# ---------------------------------------------------------------- revoking

@pytest.mark.asyncio
async def test_admin_revokes_a_persons_sessions(web, sqlite_app):
    await login(web, sqlite_app, "王干部")
    assert (await web.get("/dashboard/")).status == 200
    assert "只有管理员" in Chat(sqlite_app, "李组长").say("/dashboard revoke 王干部")
    assert (await web.get("/dashboard/")).status == 200
    assert "没有找到人员" in Chat(sqlite_app, "张主任").say("/dashboard revoke 王某")
    reply = Chat(sqlite_app, "张主任").say("/dashboard revoke 王干部")
    assert "已撤销王干部的驾驶舱登录(1个" in reply
    assert (await web.get("/dashboard/")).status == 401


@pytest.mark.asyncio
async def test_logout_ends_the_session(web, sqlite_app):
    await login(web, sqlite_app, "张主任")
    response = await web.post("/dashboard/logout")
    assert response.status == 200 and "已退出" in await response.text()
    assert (await web.get("/dashboard/")).status == 401


# ---------------------------------------------------------------- 大屏 screen tokens

@pytest.mark.asyncio
async def test_screen_token_create_view_revoke(web, sqlite_app):
    admin = Chat(sqlite_app, "张主任")
    assert "只有管理员" in Chat(sqlite_app, "李组长").say("/screen new 会议室")
    assert "还没有大屏链接" in admin.say("/screen")
    text = admin.say("/screen new 三楼会议室")
    assert "大屏链接 #" in text and "三楼会议室" in text
    path = path_of(SCREEN.search(text).group(1))
    page = await web.get(path)
    html = await page.text()
    assert page.status == 200
    assert '<meta http-equiv="refresh" content="60">' in html
    assert "雕庄街道督办驾驶舱" in html and "全部事项 94 项" in html and "专班排名" in html
    # a screen token opens the screen only, not the pages behind a login
    assert (await web.get("/dashboard/")).status == 401
    screen_id = re.search(r"#(\d+)", text).group(1)
    assert f"#{screen_id} 三楼会议室" in admin.say("/screen")
    assert "请写大屏编号" in admin.say("/screen revoke 会议室")
    assert (await web.get(path)).status == 200  # bad input changed nothing
    assert "已撤销1个大屏链接" in admin.say(f"/screen revoke {screen_id}")
    gone = await web.get(path)
    assert gone.status == 403 and "大屏链接无效" in await gone.text()
    assert "没有有效的大屏链接" in admin.say(f"/screen revoke {screen_id}")


@pytest.mark.asyncio
async def test_brief_has_a_dashboard_button_that_sends_a_link(sqlite_app):
    chat = Chat(sqlite_app, "张主任")
    replies = chat.replies("/brief")
    pressed = chat.press("打开驾驶舱", replies)
    assert LINK.search(pressed[0].text)
    with sqlite_app.sessions() as session:
        person = session.scalar(select(Person).where(Person.name == "张主任"))
        assert session.scalar(select(func.count()).select_from(WebAccess)
                              .where(WebAccess.person_id == person.id, WebAccess.kind == "link")) == 1


@pytest.mark.asyncio
async def test_photos_follow_the_task_scope(web, sqlite_app, tmp_path):
    from bot.models import TaskUpdate

    picture = tmp_path / "site.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    natu = task_id(sqlite_app, "纳图电气")
    foreign = other_team_task(sqlite_app, "xm1")
    with sqlite_app.sessions.begin() as session:
        now = sqlite_app.clock.now()
        own = TaskUpdate(task_id=natu, author_id=None, created_at=now, progress=60, note="现场",
                         photo_path=str(picture))
        other = TaskUpdate(task_id=foreign, author_id=None, created_at=now, progress=10, photo_path=str(picture))
        session.add_all([own, other])
        session.flush()
        own_id, other_id = own.id, other.id
    await login(web, sqlite_app, "王干部")
    page = await (await web.get(f"/dashboard/task/{natu}")).text()
    assert f'src="/dashboard/photo/{own_id}"' in page and "进度60%;现场" in page
    assert (await web.get(f"/dashboard/photo/{own_id}")).status == 200
    denied = await web.get(f"/dashboard/photo/{other_id}")
    assert denied.status == 403 and "没有权限" in await denied.text()
    assert (await web.get("/dashboard/photo/999999")).status == 404
