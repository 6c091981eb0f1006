"""Choosing the Dagster instance: one setting picks the template, a home is prepared from it
without clobbering a dagster.yaml the user edited, bad settings name the setting, and runs
whose process died are failed."""

from __future__ import annotations

import multiprocessing
import os

import dagster as dg
import pytest
import yaml

from smi_assets.orchestration.instance import (
    INSTANCE_SETTING,
    POSTGRES_URL_SETTING,
    instance_kind,
    instance_template,
    postgres_url,
    prepare_dagster_home,
    redact_password,
)
from smi_assets.orchestration.maintenance import RUN_PID_TAG, fail_orphaned_runs, run_owner_tags


def test_both_templates_keep_the_pool_and_run_limits_and_monitor_runs():
    for kind in ("sqlite", "postgres"):
        settings = yaml.safe_load(instance_template(kind).read_text())
        assert settings["concurrency"] == {"pools": {"default_limit": 1}, "runs": {"max_concurrent_runs": 2}}
        assert settings["run_monitoring"]["enabled"] is True
    postgres = yaml.safe_load(instance_template("postgres").read_text())
    assert postgres["storage"]["postgres"]["postgres_url"] == {"env": POSTGRES_URL_SETTING}


def test_kind_comes_from_one_setting_and_unknown_kinds_are_refused():
    assert instance_kind({}) == "sqlite"
    assert instance_kind({INSTANCE_SETTING: " Postgres "}) == "postgres"
    with pytest.raises(ValueError, match=f"{INSTANCE_SETTING}='mysql'"):
        instance_template("mysql")


def test_home_gets_the_template_switches_kind_but_keeps_a_user_edited_file(tmp_path):
    home = prepare_dagster_home(tmp_path / "home", "sqlite")
    written = home / "dagster.yaml"
    assert written.read_text() == instance_template("sqlite").read_text()
    written.write_text(instance_template("postgres").read_text())  # a home written for the other kind
    prepare_dagster_home(home, "sqlite")
    assert written.read_text() == instance_template("sqlite").read_text()
    written.write_text("concurrency:\n  runs:\n    max_concurrent_runs: 8\n")
    prepare_dagster_home(home, "sqlite")
    assert "max_concurrent_runs: 8" in written.read_text()


def test_postgres_url_setting_is_required_with_the_psycopg2_driver():
    with pytest.raises(ValueError, match=POSTGRES_URL_SETTING):
        postgres_url({})
    with pytest.raises(ValueError, match=r"must start with postgresql\+psycopg2://.*not postgresql://"):
        postgres_url({POSTGRES_URL_SETTING: "postgresql://u:p@db:5432/dagster"})
    url = "postgresql+psycopg2://u:p@db:5432/dagster"
    assert postgres_url({POSTGRES_URL_SETTING: url}) == url
    assert redact_password(url) == "postgresql+psycopg2://u:***@db:5432/dagster"


@dg.op
def dies_with_its_process() -> None:
    os._exit(1)  # like a killed process: nothing is left to record the run's end


@dg.job
def dying_job():
    dies_with_its_process()


def execute_in_a_process_that_dies(instance_ref, tags: dict[str, str] | None = None) -> None:
    def target():
        with dg.DagsterInstance.from_ref(instance_ref) as instance:
            dying_job.execute_in_process(instance=instance, tags=tags or run_owner_tags())

    process = multiprocessing.get_context("fork").Process(target=target)
    process.start()
    process.join(60)


def test_runs_whose_process_died_are_failed_and_live_ones_kept():
    with dg.instance_for_test() as instance:
        execute_in_a_process_that_dies(instance.get_ref())
        # Tagged with a process that is alive (this one): must be left alone.
        execute_in_a_process_that_dies(instance.get_ref(), {**run_owner_tags(), RUN_PID_TAG: str(os.getpid())})
        dead, alive = sorted(instance.get_runs(), key=lambda run: run.tags[RUN_PID_TAG] == str(os.getpid()))
        assert dead.status == alive.status == dg.DagsterRunStatus.STARTED
        assert fail_orphaned_runs(instance) == [dead.run_id]
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        assert fail_orphaned_runs(instance) == []
