"""Central's settings: ``ingest.shared_subscription`` and its deprecated alias ``ingest.workers``
(which only ever switched the shared subscription on), so existing files keep starting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from central.config import IngestSettings, load_settings
from shared.config import ConfigError

DEPRECATED = "ingest.workers is deprecated"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shared_subscription_is_off_by_default_and_switched_on_by_its_key(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="central.config"):
        assert not load_settings(None, {}).ingest.use_shared_subscription
        on = load_settings(_file(tmp_path, "[ingest]\nshared_subscription = true\n"), {})
    assert on.ingest.use_shared_subscription and on.ingest.workers is None
    assert DEPRECATED not in caplog.text


@pytest.mark.parametrize(("workers", "shared"), [(1, False), (2, True), (32, True)])
def test_the_old_workers_key_still_starts_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                         workers: int, shared: bool) -> None:
    with caplog.at_level(logging.WARNING, logger="central.config"):
        settings = load_settings(_file(tmp_path, f"[ingest]\nworkers = {workers}\n"), {})
    assert settings.ingest.use_shared_subscription is shared
    assert DEPRECATED in caplog.text
    assert f"ingest.shared_subscription = {'true' if shared else 'false'}" in caplog.text


def test_the_old_workers_environment_variable_still_works(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="central.config"):
        settings = load_settings(None, {"SFSYNC_CENTRAL_INGEST__WORKERS": "2"})
    assert settings.ingest.use_shared_subscription
    assert DEPRECATED in caplog.text


def test_workers_one_does_not_switch_an_explicit_shared_subscription_off() -> None:
    assert IngestSettings(workers=1, shared_subscription=True).use_shared_subscription


@pytest.mark.parametrize("bad", ["0", "33"])
def test_the_old_key_keeps_its_range(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_file(tmp_path, f"[ingest]\nworkers = {bad}\n"), {})
    assert "ingest.workers" in str(info.value)
