"""The config file: one TOML file, checked key by key.

`--config PATH` (or SEGMENTA_CONFIG), else ./config.toml when present, else
the defaults below. Secrets come only from the environment.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import BadInput, ConfigError

CUSTOM_TYPES = ("text", "number", "date", "yesno")
DEFAULT_DATABASE_URL = "sqlite:///segmenta.db"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'30m' → 1800 seconds. Raises BadInput with a hint."""
    m = _DURATION.match(str(text))
    if not m or int(m.group(1)) == 0:
        raise BadInput(f'"{text}" is not a duration; write it like 30m, 1h, 2d or 90s')
    return int(m.group(1)) * _UNITS[m.group(2)]


def format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Config:
    timezone: str = "UTC"
    database_url: str = DEFAULT_DATABASE_URL
    custom_fields: dict[str, str] = field(default_factory=dict)
    refresh_every: int = 3600
    slack_command: str = "/segment"
    slack_admins: tuple[str, ...] = ()
    slack_api_url: str = ""
    source: str = "(defaults)"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # Secrets are read when needed and never stored on the config object,
    # so that printing a config never shows them.
    @staticmethod
    def secret(name: str) -> str | None:
        assert name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
        return os.environ.get(name) or None

    @property
    def api_url(self) -> str:
        return os.environ.get("SLACK_API_URL") or self.slack_api_url


_SCHEMA = {
    "timezone": str,
    "database": {"url": str},
    "custom_fields": dict,
    "scheduler": {"refresh_every": str},
    "slack": {"command": str, "admins": list, "api_url": str},
}


def _check(data: dict, schema: dict, where: str, source: str) -> None:
    for key, value in data.items():
        name = f"{where}{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{source}: unknown key \"{name}\" (known here: {known})")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: \"{name}\" must be a table [{name}]")
            _check(value, expected, f"{name}.", source)
        elif not isinstance(value, expected):
            raise ConfigError(
                f"{source}: \"{name}\" must be a {expected.__name__}, not {type(value).__name__}"
            )


def from_mapping(data: dict, source: str = "(given)") -> Config:
    _check(data, _SCHEMA, "", source)
    kw: dict = {"source": source}
    if "timezone" in data:
        try:
            ZoneInfo(data["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f'{source}: "timezone" = "{data["timezone"]}" is not a time zone; use a name like "Europe/Kyiv" or "UTC"'
            ) from None
        kw["timezone"] = data["timezone"]
    if "url" in data.get("database", {}):
        kw["database_url"] = data["database"]["url"]
    customs = {}
    for key, kind in data.get("custom_fields", {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f'{source}: custom field name "custom_fields.{key}" must be letters, digits and _')
        if kind not in CUSTOM_TYPES:
            raise ConfigError(
                f'{source}: "custom_fields.{key}" = "{kind}" is not a type; use one of {", ".join(CUSTOM_TYPES)}'
            )
        customs[key.lower()] = kind
    kw["custom_fields"] = customs
    if "refresh_every" in data.get("scheduler", {}):
        try:
            kw["refresh_every"] = parse_duration(data["scheduler"]["refresh_every"])
        except BadInput as e:
            raise ConfigError(f'{source}: "scheduler.refresh_every": {e}') from None
    slack = data.get("slack", {})
    if "command" in slack:
        kw["slack_command"] = slack["command"]
    if "admins" in slack:
        if not all(isinstance(a, str) for a in slack["admins"]):
            raise ConfigError(f'{source}: "slack.admins" must be a list of Slack user ids like "U123ABC"')
        kw["slack_admins"] = tuple(slack["admins"])
    if "api_url" in slack:
        kw["slack_api_url"] = slack["api_url"]
    return Config(**kw)


def load(path: str | os.PathLike | None = None) -> Config:
    """Read the config from PATH, SEGMENTA_CONFIG, ./config.toml, or defaults."""
    path = path or os.environ.get("SEGMENTA_CONFIG")
    if path is None and Path("config.toml").is_file():
        path = "config.toml"
    if path is None:
        cfg = Config()
    else:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file; check --config or SEGMENTA_CONFIG") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: not valid TOML ({e})") from None
        cfg = from_mapping(data, str(p))
    env_url = os.environ.get("SEGMENTA_DATABASE_URL")
    if env_url:
        cfg = _replace(cfg, database_url=env_url)
    return cfg


_current: Config | None = None


def use(cfg: Config) -> Config:
    """Make CFG the config of this process (set once by each entry point)."""
    global _current
    _current = cfg
    return cfg


def current() -> Config:
    """The config of this process; the defaults until an entry point sets one."""
    return _current if _current is not None else Config()


def _replace(cfg: Config, **kw) -> Config:
    from dataclasses import replace

    return replace(cfg, **kw)


with_database = _replace
