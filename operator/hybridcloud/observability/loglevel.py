"""The level of a log line: from JSON (``level``/``severity``/``lvl``…), logfmt (``level=…``) or a
common text prefix (``ERROR …``, ``[warn] …``, ``E0412 …`` klog-style). Unknown: ``info``.
"""

from __future__ import annotations

import json
import re

LEVELS = ("trace", "debug", "info", "warning", "error", "fatal")
_ALIASES = {
    "trace": "trace", "debug": "debug", "dbg": "debug", "info": "info", "information": "info",
    "notice": "info", "warn": "warning", "warning": "warning", "error": "error", "err": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "panic": "fatal", "emerg": "fatal",
    "alert": "fatal", "severe": "error",
}
_JSON_KEYS = ("level", "severity", "lvl", "log.level", "loglevel")
_LOGFMT = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+)")
_PREFIX = re.compile(r"^\s*[\[<(]?([A-Za-z]+)[\]>):]?(?:\s|$)")
_KLOG = re.compile(r"^([IWEF])\d{4} ")
_KLOG_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "fatal"}


def _normal(word: str) -> str | None:
    return _ALIASES.get(word.lower())


def extract_level(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if isinstance(record, dict):
            for key in _JSON_KEYS:
                value = record.get(key)
                if isinstance(value, str) and (level := _normal(value)):
                    return level
    if (match := _LOGFMT.search(line)) and (level := _normal(match.group(1))):
        return level
    if match := _KLOG.match(line):
        return _KLOG_LEVELS[match.group(1)]
    if (match := _PREFIX.match(line)) and (level := _normal(match.group(1))):
        return level
    return "info"
