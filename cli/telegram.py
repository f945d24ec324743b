"""``python run.py telegram``: run the Telegram bot with long polling."""
from __future__ import annotations

import argparse
import logging
import sys

from telegram.error import InvalidToken, NetworkError

from bot.composition import build_app
from bot.notify import NotifierRouter
from channels.server import start_reminder_jobs
from channels.telegram.bot import ALLOWED_UPDATES, TelegramBot
from channels.telegram.notifier import TelegramNotifier
from cli.demo import make_clock

logger = logging.getLogger(__name__)

DESCRIPTION = """\
运行 Telegram 机器人(长轮询,适合试用;生产环境用 `python run.py serve` 的 webhook)。

设置 token:
  export TELEGRAM_BOT_TOKEN=123456:ABC...   (找 @BotFather 建机器人得到)
  或写在不提交到 git 的配置文件里的 telegram.token(telegram: {token: ...}),用 --config 指定。
其他 Bot API 服务器(自建或测试用的假服务器):
  telegram.base_url: http://127.0.0.1:8081/bot   (同 python-telegram-bot 的 base_url)
绑定身份:管理员用 /invite 姓名 生成邀请码(或导入 data/demo-people.yaml 里的),
  干部在与机器人的私聊里发 /start 邀请码。
群聊:管理员在群里发 /bindgroup 专班名 绑定;群里只回应命令(/cmd@机器人)和 @机器人。
Webhook(反向代理后面):在 config 里设 telegram.webhook_url(公网 https 地址,
  例如 https://duban.example.gov.cn/telegram/webhook)和 telegram.webhook_secret,
  让 nginx 把该路径转发到 server.host:server.port 的 telegram.webhook_path
  (默认 /telegram/webhook),然后运行 python run.py serve。长轮询启动时会删除 webhook。
"""


def add_parser(sub) -> None:
    parser = sub.add_parser("telegram", help="运行 Telegram 机器人(长轮询)run the Telegram bot",
                            description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--now", help="设定起始时间(测试/演示),时钟从这里往前走, e.g. 2025-07-15T09:00")
    parser.add_argument("--poll-timeout", type=int, help="getUpdates 长轮询秒数 (default telegram.poll_timeout)")
    parser.set_defaults(handler=run)


def run(config, args) -> int:
    if not config.telegram.token:
        print("错误 error: 没有 Telegram token。请设置环境变量 DUBAN__TELEGRAM__TOKEN(或 TELEGRAM_BOT_TOKEN),"
              "或在配置文件里写 telegram.token。详见 python run.py telegram --help", file=sys.stderr)
        return 2
    clock = make_clock(args.now, ticking=True)
    duban = build_app(config, clock)
    reminders = ReminderJobs(duban)
    application = TelegramBot(duban).build_application(announce=True, post_init=reminders.start,
                                                       post_stop=reminders.stop)
    timeout = config.telegram.poll_timeout if args.poll_timeout is None else args.poll_timeout
    try:
        application.run_polling(poll_interval=0, timeout=timeout, allowed_updates=ALLOWED_UPDATES,
                                close_loop=False)
    except InvalidToken:
        print("错误 error: Telegram 不认这个 token。请检查 TELEGRAM_BOT_TOKEN / telegram.token。", file=sys.stderr)
        return 2
    except NetworkError as error:
        print(f"错误 error: 连不上 Telegram Bot API({config.telegram.base_url or 'api.telegram.org'}):{error}",
              file=sys.stderr)
        return 2
    return 0


class ReminderJobs:
    """The reminder jobs in the polling process too, sending through this bot: an office that
    only runs ``python run.py telegram`` still gets its deadline pushes and digests. Started
    and stopped by PTB's builder hooks (``post_init`` / ``post_stop``)."""

    def __init__(self, duban) -> None:
        self.duban = duban
        self.scheduler = None

    async def start(self, application) -> None:
        notifiers = NotifierRouter()
        notifiers.register("telegram", TelegramNotifier(application.bot))
        self.scheduler = start_reminder_jobs(self.duban, notifiers)

    async def stop(self, application) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self.duban.workers.close()
