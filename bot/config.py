"""Configuration: config.yaml validated by pydantic models, with secrets from the environment.

``load_config(path)`` raises ``FileError`` whose message names the file, the line and the key,
so ``run.py`` can print it and exit non-zero.
"""
from __future__ import annotations

import os
from datetime import date, time
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.yamlfile import FileError, describe_validation_error, load_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(Section):
    url: str = "sqlite:///var/duban.sqlite3"
    echo: bool = False
    #: threads that run handlers and other database work off the event loop (0 = 4; an
    #: in-memory SQLite database always gets one), see bot.workers
    workers: int = Field(0, ge=0, le=64)


class DataConfig(Section):
    dataset: str = "data/diaozhuang-2025.yaml"
    demo_people: str = "data/demo-people.yaml"
    out_dir: str = "var/out"


class LightsConfig(Section):
    """Traffic-light thresholds (红黄绿)."""

    behind_yellow_pp: float = Field(10, gt=0, le=100)
    behind_red_pp: float = Field(30, gt=0, le=100)
    due_soon_days: int = Field(3, ge=0, le=60)
    stale_days: int = Field(14, ge=1, le=365)

    @model_validator(mode="after")
    def _ordered(self) -> LightsConfig:
        if self.behind_red_pp <= self.behind_yellow_pp:
            raise ValueError("behind_red_pp 必须大于 behind_yellow_pp")
        return self


class ListsConfig(Section):
    page_size: int = Field(8, ge=1, le=50)
    due_days_default: int = Field(7, ge=1, le=365)


class EscalationStep(Section):
    overdue_workdays: int = Field(ge=1)
    notify: str = Field(pattern="^(team_lead|leader)$")


class RemindersConfig(Section):
    enabled: bool = True
    remind_time: time = time(9, 0)
    deadline_offsets_workdays: list[int] = [3, 1, 0]
    digest_time: time = time(8, 30)
    weekly_brief_weekday: int = Field(0, ge=0, le=6)  # Monday
    weekly_brief_time: time = time(8, 30)
    stale_nudge_workdays: int = Field(5, ge=1)
    stale_nudge_weekday: int = Field(4, ge=0, le=6)  # Friday
    send_on_non_workdays: bool = False
    escalation: list[EscalationStep] = [
        EscalationStep(overdue_workdays=1, notify="team_lead"),
        EscalationStep(overdue_workdays=3, notify="leader"),
    ]
    quiet_hours: Optional[tuple[time, time]] = (time(22, 0), time(7, 30))
    max_attempts: int = Field(6, ge=1)
    retry_base_seconds: float = Field(5, gt=0)
    digest_stale_hours: float = Field(4, gt=0)
    calendar_overrides: dict[date, bool] = {}
    #: after downtime, occasions missed in at most this many days are sent once, marked late
    catchup_days: int = Field(3, ge=0, le=31)
    #: a reminder sent this many minutes after its moment is marked late (补发)
    late_grace_minutes: int = Field(30, ge=1)
    #: digests list tasks due within this many days (本周到期)
    digest_due_days: int = Field(7, ge=1, le=60)
    #: a delivery worker holds claimed outbox rows this long before others may take them
    claim_seconds: int = Field(120, ge=10)
    #: how often the scheduler looks for due reminders / delivers the outbox (seconds)
    tick_seconds: int = Field(60, ge=1)
    deliver_seconds: float = Field(5, gt=0)


class TelegramConfig(Section):
    """Telegram bot. The token comes from TELEGRAM_BOT_TOKEN (or ``token`` in an uncommitted file)."""

    token: Optional[str] = None
    #: another Bot API server, as PTB's base_url: e.g. http://127.0.0.1:8081/bot
    base_url: Optional[str] = None
    #: its file URL; derived from base_url (…/bot -> …/file/bot) when not set
    base_file_url: Optional[str] = None
    bot_username: Optional[str] = None
    #: public HTTPS URL Telegram posts updates to (``serve``); the reverse proxy forwards it
    webhook_url: Optional[str] = None
    webhook_secret: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    #: path of the webhook route on the shared server
    webhook_path: str = Field("/telegram/webhook", pattern=r"^/\S*$")
    poll_timeout: int = Field(10, ge=0, le=60)
    #: where received photos are kept; default: ``photos`` beside data.out_dir
    photo_dir: Optional[str] = None
    #: flood limits for sending (0 turns a limit off); a 429 RetryAfter is retried this many times
    max_messages_per_second: float = Field(30, ge=0)
    max_messages_per_minute_per_group: float = Field(20, ge=0)
    max_retries: int = Field(3, ge=0, le=10)
    #: no longer read: handlers always run in the app's worker threads (bot.workers,
    #: ``database.workers``); kept so older config files still load
    handle_in_thread: bool = False
    #: proxy for every Bot API call: http://host:port, https://…, socks5://user:pass@host:port;
    #: unset: HTTPS_PROXY / ALL_PROXY from the environment (NO_PROXY honoured); "none": direct
    proxy: Optional[str] = None
    #: updates of up to this many different chats are handled at the same time (one chat: in order)
    concurrent_chats: int = Field(8, ge=1, le=256)


class WeComConfig(Section):
    corp_id: Optional[str] = None
    agent_id: Optional[int] = None
    secret: Optional[str] = None
    token: Optional[str] = None
    encoding_aes_key: Optional[str] = None
    api_base: str = "https://qyapi.weixin.qq.com"
    max_timestamp_skew_s: int = Field(300, ge=0)
    team_robots: dict[str, str] = {}
    #: buttons as template cards (按钮交互型); false: numbered plain-text choices
    use_template_cards: bool = True
    #: proxy for the WeCom API and group robots (http://…); unset: direct, whatever
    #: HTTPS_PROXY says (that one is for Telegram)
    proxy: Optional[str] = None


class LedgerConfig(Section):
    """Limits on an imported Excel ledger, checked before and while it is read."""

    #: the sum of the workbook's members once unzipped (a zip bomb stops here)
    max_unzipped_mb: int = Field(50, ge=1)
    #: a member larger than 1 MB unzipped may be at most this many times its compressed size
    max_ratio: int = Field(100, ge=2)
    max_rows: int = Field(20000, ge=10)
    max_columns: int = Field(64, ge=11)
    #: reading and checking the file stop after this many seconds (checked every few hundred rows)
    time_limit_seconds: float = Field(30, gt=0)


class ButtonsConfig(Section):
    #: a button older than this is answered "按钮已过期" (a reminder's buttons: while it is current)
    max_age_days: int = Field(14, ge=1)
class WorkflowConfig(Section):
    """The 督办 cycle's rules: 办结审核 and the 延期 chain."""

    #: 100% makes a task 待审核; the team lead's 通过 closes it (销号). false: 100% closes at once
    review_required: bool = True
    #: an extension longer than this many days also needs the 分管领导 (after the team lead)
    extension_leader_days: int = Field(30, ge=1, le=3650)


class RankingConfig(Section):
    """考核排名 of the 专班: score = 100 + on-time rate × weight − penalties (see README)."""

    on_time_weight: float = Field(20, ge=0)
    overdue_penalty: float = Field(5, ge=0)
    red_penalty: float = Field(2, ge=0)
    unsigned_penalty: float = Field(1, ge=0)
    urge_penalty: float = Field(0.5, ge=0)
    #: −1 point per day the average gap between reports exceeds this many days
    report_gap_days: float = Field(14, gt=0)
    report_gap_penalty: float = Field(1, ge=0)
    #: how many teams the weekly brief names at the top and at the bottom
    brief_top: int = Field(3, ge=0, le=20)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class DashboardConfig(Section):
    """督办驾驶舱: the web view served by ``run.py serve`` under /dashboard/."""

    enabled: bool = True
    #: the address people open, as seen from their phones (behind the reverse proxy), e.g.
    #: https://duban.example.gov.cn ; not set: http://server.host:server.port
    public_url: Optional[str] = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    #: a login link works once, within this many minutes
    link_minutes: int = Field(10, ge=1, le=1440)
    #: a session started from a link lasts this many hours (a working day)
    session_hours: float = Field(10, gt=0, le=24)
    #: cookies marked Secure: auto = when the request came over HTTPS (directly, or
    #: X-Forwarded-Proto: https from the reverse proxy); true / false force it
    secure_cookies: str = Field("auto", pattern="^(auto|true|false)$")
    #: the 大屏 page reloads itself every this many seconds
    screen_refresh_seconds: int = Field(60, ge=10, le=3600)


class Config(Section):
    office: str = "雕庄街道"
    timezone: str = "Asia/Shanghai"
    database: DatabaseConfig = DatabaseConfig()
    data: DataConfig = DataConfig()
    lights: LightsConfig = LightsConfig()
    lists: ListsConfig = ListsConfig()
    reminders: RemindersConfig = RemindersConfig()
    ledger: LedgerConfig = LedgerConfig()
    buttons: ButtonsConfig = ButtonsConfig()
    telegram: TelegramConfig = TelegramConfig()
    wecom: WeComConfig = WeComConfig()
    server: ServerConfig = ServerConfig()
    workflow: WorkflowConfig = WorkflowConfig()
    ranking: RankingConfig = RankingConfig()
    dashboard: DashboardConfig = DashboardConfig()

    #: where the file was read from; relative paths in it are taken from the project root
    source_path: Optional[str] = None

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; relative SQLite paths are anchored at the project root."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(url[len(prefix):]))
        return url


ENV_OVERRIDES = {
    "DATABASE_URL": ("database", "url"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "token"),
    "WECOM_SECRET": ("wecom", "secret"),
    "WECOM_TOKEN": ("wecom", "token"),
    "WECOM_ENCODING_AES_KEY": ("wecom", "encoding_aes_key"),
}


def load_config(path: Path | str | None = None, environ: Optional[dict] = None) -> Config:
    """Read and validate a config file; environment variables override secrets and the URL."""
    path = Path(path) if path else PROJECT_ROOT / "config.yaml"
    data, lines = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FileError(f"{path}:1: 顶层应为键值对 (top level must be a mapping)")
    env = os.environ if environ is None else environ
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            data.setdefault(section, {})
            if isinstance(data[section], dict):
                data[section][key] = env[var]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise FileError(describe_validation_error(path, lines, exc)) from None
    config.source_path = str(path)
    return config
