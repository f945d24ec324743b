"""Chat side of the 督办驾驶舱: /dashboard (驾驶舱) sends a personal login link; /screen
(admins) makes and revokes the read-only 大屏 links for the office screen."""
from __future__ import annotations

from bot.buttons import Cb
from bot.messages import GROUP, Button, Reply
from bot.services import people as people_service
from bot.services import web_access
from bot.services.dashboard import scope_of
from bot.services.errors import InvalidInput
from handlers.context import Ctx

REVOKE_WORDS = ("revoke", "撤销", "注销", "收回")
NEW_WORDS = ("new", "新建", "生成", "创建")


def base_url(ctx: Ctx) -> str:
    """Where phones reach the server: dashboard.public_url, else server.host:port."""
    config = ctx.app.config
    if config.dashboard.public_url:
        return config.dashboard.public_url.rstrip("/")
    return f"http://{config.server.host}:{config.server.port}"


def login_link(ctx: Ctx) -> str:
    token = web_access.new_link(ctx.session, ctx.now, ctx.app.web_key(), ctx.person,
                                ctx.app.config.dashboard.link_minutes)
    return f"{base_url(ctx)}/dashboard/login?t={token}"


def cmd_dashboard(ctx: Ctx, args: str) -> Reply:
    """/dashboard — 督办驾驶舱:手机上看全街道红黄绿、逾期、排名、指标(发个人登录链接)"""
    words = args.split()
    if words and words[0].lower() in REVOKE_WORDS:
        return _revoke_person(ctx, " ".join(words[1:]))
    if not ctx.app.config.dashboard.enabled:
        return Reply("驾驶舱没有开启(config.yaml 的 dashboard.enabled)。")
    if ctx.msg.chat_type == GROUP:
        return Reply("登录链接是个人的,请在和我的私聊里发“驾驶舱”。")
    minutes = ctx.app.config.dashboard.link_minutes
    scope = "本人和本专班的事项" if scope_of(ctx.person).own_only else "全街道的事项"
    return Reply(f"督办驾驶舱({scope}):\n{login_link(ctx)}\n"
                 f"链接只能用一次,{minutes}分钟内有效,请勿转发;打开后当天不用再登录。")


def _revoke_person(ctx: Ctx, name: str) -> Reply:
    people_service.require_admin(ctx.person)
    if not name.strip():
        raise InvalidInput("请写上姓名,例如:/dashboard revoke 王干部")
    person = people_service.find_person(ctx.session, name)
    count = web_access.revoke_person(ctx.session, ctx.now, ctx.person, person)
    return Reply(f"已撤销{person.name}的驾驶舱登录({count}个有效会话或链接)。")


def cmd_screen(ctx: Ctx, args: str) -> Reply:
    """/screen — 大屏链接(管理员):/screen new 名称 生成,/screen revoke [编号] 撤销"""
    words = args.split()
    verb = words[0].lower() if words else ""
    if verb in NEW_WORDS:
        label = " ".join(words[1:]).strip() or "会议室大屏"
        if len(label) > 32:
            raise InvalidInput("大屏名称请控制在32字以内。")
        token, row = web_access.new_screen(ctx.session, ctx.now, ctx.app.web_key(), ctx.person, label)
        return Reply(f"大屏链接 #{row.id}({row.label}),只读,长期有效,撤销前一直可用:\n"
                     f"{base_url(ctx)}/dashboard/screen?k={token}\n"
                     "在会议室电脑的浏览器里打开并全屏(F11)。不用时发 /screen revoke "
                     f"{row.id} 撤销。")
    if verb in REVOKE_WORDS:
        rest = " ".join(words[1:]).strip().lstrip("#")
        if rest and not rest.isdigit() and rest not in ("全部", "all"):
            raise InvalidInput("请写大屏编号,例如:/screen revoke 3;或 /screen revoke 全部")
        count = web_access.revoke_screens(ctx.session, ctx.now, ctx.person,
                                          int(rest) if rest.isdigit() else None)
        if count == 0:
            return Reply("没有可撤销的大屏链接。" if not rest.isdigit() else f"没有有效的大屏链接 #{rest}。")
        return Reply(f"已撤销{count}个大屏链接,打开中的大屏下次刷新时会显示“链接无效”。")
    if verb:
        raise InvalidInput("用法:/screen new 名称、/screen revoke 编号、/screen(查看)")
    screens = web_access.live_screens(ctx.session)
    if not screens:
        return Reply("还没有大屏链接。发 /screen new 会议室 生成一个。")
    lines = ["有效的大屏链接:"] + [f"#{s.id} {s.label or ''}({s.created_at:%m-%d %H:%M} 生成)" for s in screens]
    return Reply("\n".join(lines) + "\n撤销:/screen revoke 编号")


def cb_dashboard(ctx: Ctx, parts: list[str]) -> Reply:
    """The [驾驶舱] button under the weekly brief: a fresh personal link."""
    return cmd_dashboard(ctx, "")


def dashboard_buttons(ctx: Ctx) -> list[list[Button]]:
    """The [打开驾驶舱] button row (none when the dashboard is off)."""
    if not ctx.app.config.dashboard.enabled:
        return []
    return [[ctx.button("打开驾驶舱", Cb.DASHBOARD)]]
