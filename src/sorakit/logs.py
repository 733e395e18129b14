"""Logging set-up for the CLI and the server; the library itself never installs handlers."""

from __future__ import annotations

import logging
import logging.config
from typing import Any


def default_log_config(verbose: int = 0) -> dict[str, Any]:
    """A dictConfig: warnings by default, info with -v, debug with -vv, on stderr."""
    level = ("WARNING", "INFO", "DEBUG")[min(verbose, 2)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "sorakit": {"level": level, "handlers": ["stderr"], "propagate": False},
            "httpx": {"level": "WARNING"},
        },
    }


def configure_logging(verbose: int = 0) -> None:
    """Apply `default_log_config`."""
    logging.config.dictConfig(default_log_config(verbose))
