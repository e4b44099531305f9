"""Tiers by folder: unit/ is pure logic and fake probes (seconds); integration/ starts real servers and processes;
e2e/ runs whole commands (the CLI, the screen in tmux). The two slow tiers get the ``slow`` marker here, so
``pytest -m 'not slow'`` is the quick run."""

from __future__ import annotations

from pathlib import Path

import pytest

SLOW_TIERS = ("integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        parts = Path(item.path).relative_to(here).parts
        if parts and parts[0] in SLOW_TIERS:
            item.add_marker(pytest.mark.slow)
