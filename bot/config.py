"""Configuration: layered YAML files and the environment, validated by pydantic models.

Layers, later ones win (mappings are merged key by key, anything else is replaced):

1. ``config.yaml`` (committed defaults);
2. ``config.local.yaml`` beside it, when present (git-ignored: the office's own settings);
3. the file given with ``--config PATH``, when given;
4. the environment: ``DUBAN__SECTION__KEY=value`` for any setting (nested keys with double
   underscores, e.g. ``DUBAN__WECOM__TEAM_ROBOTS__XM1``), ``DUBAN__SECTION__KEY_FILE=/path``
   to read a secret from a file, and the older names in ``ENV_OVERRIDES`` (``DATABASE_URL``,
   ``TELEGRAM_BOT_TOKEN``, ...; also with ``_FILE``).

``load_config`` raises ``FileError`` whose message names where a bad value came from (file and
line, or the environment variable) and the key, so ``run.py`` can print it and exit 2.
"""
from __future__ import annotations

import os
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.yamlfile import FileError, line_of, load_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TimeOfDay = time  # for fields named ``time``


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


class LoggingConfig(Section):
    """Logs go to stderr, one line per event (journald and ``docker logs`` collect them)."""

    #: ``text``: ``time level logger: message``; ``json``: one JSON object per line
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


class BackupConfig(Section):
    """``run.py backup`` and the daily backup job."""

    #: where archives go (relative paths from the project root)
    dir: str = "var/backups"
    #: archives older than this many days are removed after each daily backup (0 = keep all)
    keep_days: int = Field(14, ge=0)
    #: the daily backup job's time (office time); null turns the job off
    time: Optional[TimeOfDay] = TimeOfDay(2, 30)


class HealthConfig(Section):
    """What ``/healthz`` and ``run.py health`` call unhealthy."""

    #: the database must answer ``SELECT 1`` within this many seconds
    db_timeout_seconds: float = Field(3, gt=0)
    #: the last reminder tick may be at most this many tick intervals old
    tick_stale_factor: float = Field(3, ge=1)
    #: a pending outbox row due longer ago than this is a backlog (minutes)
    outbox_max_age_minutes: float = Field(30, gt=0)


class RetentionConfig(Section):
    """How long the housekeeping job keeps generated files and finished outbox rows (days)."""

    #: exports, charts and briefs in data.out_dir (personal data: names, progress)
    out_files_days: int = Field(7, ge=1)
    #: sent/skipped/superseded outbox rows (the text of each push)
    sent_outbox_days: int = Field(90, ge=1)
    #: failed outbox rows (kept longer: the admins may still look into them)
    failed_outbox_days: int = Field(180, ge=1)


class SendingConfig(Section):
    """Send rate limits shared by every instance on one PostgreSQL (token buckets in the
    database, bot.services.send_limits), on top of each channel's own per-process limiter.
    Channels: telegram, wecom, wecom_robot. A channel not listed (or 0) is not limited here."""

    #: off: each process only keeps its own limits (one instance, or SQLite)
    shared_limits: bool = True
    #: pushes a second per channel, over all instances (smooth: no bursts)
    per_second: dict[str, float] = {"telegram": 25, "wecom": 10, "wecom_robot": 1}
    #: pushes a minute to one chat (a person, a group, a group robot), over all instances
    per_chat_per_minute: dict[str, float] = {"telegram": 20, "wecom": 30, "wecom_robot": 20}
    #: how many pushes to one chat may go at once before the per-minute pace applies
    chat_burst: int = Field(3, ge=1)


class Config(Section):
    office: str = "雕庄街道"
    #: the office's time zone is fixed (bot.clock.OFFICE_TZ, imported at module level by the
    #: domain); the key is only accepted with that value so old config files keep loading
    timezone: Literal["Asia/Shanghai"] = "Asia/Shanghai"
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
    logging: LoggingConfig = LoggingConfig()
    backup: BackupConfig = BackupConfig()
    health: HealthConfig = HealthConfig()
    retention: RetentionConfig = RetentionConfig()
    sending: SendingConfig = SendingConfig()

    #: where the file was read from; relative paths in it are taken from the project root
    source_path: Optional[str] = None

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def database_url_safe(self) -> str:
        """The database URL with any password masked, for messages and logs."""
        url = self.database_url
        if "://" in url and "@" in url:
            scheme, rest = url.split("://", 1)
            credentials, host = rest.rsplit("@", 1)
            if ":" in credentials:
                credentials = credentials.split(":", 1)[0] + ":***"
            return f"{scheme}://{credentials}@{host}"
        return url

    @property
    def photo_path(self) -> Path:
        """Where received photos are kept: ``telegram.photo_dir``, else ``photos`` beside
        ``data.out_dir``. With several instances, a folder every instance can read."""
        folder = self.telegram.photo_dir
        return self.resolve(folder) if folder else self.resolve(self.data.out_dir).parent / "photos"

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; relative SQLite paths are anchored at the project root."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(url[len(prefix):]))
        return url


#: older environment names, still read (the ``DUBAN__...`` names win over them)
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "DATABASE_URL": ("database", "url"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "token"),
    "WECOM_SECRET": ("wecom", "secret"),
    "WECOM_TOKEN": ("wecom", "token"),
    "WECOM_ENCODING_AES_KEY": ("wecom", "encoding_aes_key"),
}
ENV_PREFIX = "DUBAN__"
FILE_SUFFIX = "_FILE"
DEFAULT_PATH = PROJECT_ROOT / "config.yaml"
LOCAL_NAME = "config.local.yaml"


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` layered on ``base``: mappings merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _set_path(data: dict, keys: tuple[str, ...], value: Any, where: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise FileError(f"{where}: {'.'.join(keys)}: {key} 不是一节设置 (not a section)")
        node = child
    node[keys[-1]] = value


def _env_value(text: str) -> Any:
    """Environment values are strings (pydantic converts numbers, booleans and times); lists and
    mappings are written in YAML flow style, e.g. ``[3, 1, 0]`` or ``{xm1: key}``."""
    stripped = text.strip()
    if stripped[:1] in "[{":
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
    if stripped.lower() in ("null", "none", "~"):
        return None
    return text


def _read_secret_file(var: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise FileError(f"环境变量 {var}: 读不到文件 (cannot read) {path}: {exc.strerror}") from None


def environment_layer(env) -> tuple[dict, dict[tuple, str]]:
    """The settings given in the environment, and for each key path the variable it came from."""
    data: dict = {}
    origins: dict[tuple, str] = {}

    def put(keys: tuple[str, ...], value: Any, var: str) -> None:
        _set_path(data, keys, value, f"环境变量 {var}")
        origins[keys] = f"环境变量 {var}"

    for var, keys in ENV_OVERRIDES.items():
        if env.get(var + FILE_SUFFIX):
            put(keys, _read_secret_file(var + FILE_SUFFIX, env[var + FILE_SUFFIX]), var + FILE_SUFFIX)
        elif env.get(var):
            put(keys, env[var], var)
    files: list[str] = []
    plain: list[str] = []
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or env[var] == "":
            continue
        (files if var.endswith(FILE_SUFFIX) else plain).append(var)
    for var in files:  # a secret file, unless the value itself is given too
        name = var[:-len(FILE_SUFFIX)]
        keys = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        if name not in env and all(keys):
            put(keys, _read_secret_file(var, env[var]), var)
    for var in plain:
        keys = tuple(part.lower() for part in var[len(ENV_PREFIX):].split("__"))
        if not all(keys):
            raise FileError(f"环境变量 {var}: 名字不对,应为 DUBAN__段__键 (DUBAN__SECTION__KEY)")
        put(keys, _env_value(env[var]), var)
    return data, origins


def _file_layer(path: Path) -> tuple[dict, dict[tuple, str]]:
    data, lines = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FileError(f"{path}:1: 顶层应为键值对 (top level must be a mapping)")
    return data, {key: f"{path}:{line}" for key, line in lines.items() if key}


def config_files(path: Path | str | None = None) -> list[Path]:
    """The files read, in order: config.yaml, config.local.yaml beside it (when present), and
    ``path`` (``--config``) when it is another file."""
    files = [DEFAULT_PATH]
    local = DEFAULT_PATH.with_name(LOCAL_NAME)
    if local.exists():
        files.append(local)
    if path is not None and Path(path).resolve() not in [f.resolve() for f in files]:
        files.append(Path(path))
    return files


def load_config(path: Path | str | None = None, environ: Optional[dict] = None,
                files: Optional[list[Path]] = None) -> Config:
    """Read, layer and validate the configuration (see the module docstring). ``files``
    replaces the file list (tests); otherwise ``config_files(path)``."""
    files = files if files is not None else config_files(path)
    data: dict = {}
    origins: dict[tuple, str] = {}
    for file in files:
        layer, where = _file_layer(Path(file))
        data = deep_merge(data, layer)
        origins.update(where)
    env_data, env_origins = environment_layer(os.environ if environ is None else environ)
    data = deep_merge(data, env_data)
    origins.update(env_origins)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise FileError(describe_error(exc, origins, files[-1] if files else DEFAULT_PATH)) from None
    config.source_path = str(files[-1]) if files else None
    return config


def describe_error(exc: ValidationError, origins: dict[tuple, str], fallback: Path) -> str:
    """Lines like ``config.local.yaml:12: lights.behind_red_pp: ...`` or
    ``环境变量 DUBAN__SERVER__PORT: server.port: ...``."""
    out = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = ".".join(str(p) for p in loc) or "(top level)"
        where = line_of(origins, loc) or str(fallback)
        out.append(f"{where}: {key}: {err['msg']}")
    return "\n".join(out)
