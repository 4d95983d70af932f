"""The lake survives SIGKILL at any point of an ingest, one writer at a time, and sources that
cannot be ingested are reported by name before anything is written."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from features import lake
from features.ingest import IngestAlreadyRunning, SourceContractError, ingest_sources
from features.lake_writer import STAGING, writer_lock
from orderlens.contracts import CONTRACTS
from orderlens.settings import load_settings
from tests.features.sources import good_sources, write_sources

SEEDS = (1, 2, 3, 4, 5, 6)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """A 150-order world over 20 days: a few hundred lake files, so kills land mid-batch."""
    from simulator.world import WorldConfig, simulate_world, write_world

    world = simulate_world(WorldConfig(n_orders=150, seed=4, days=20))
    folder = tmp_path_factory.mktemp("small_world")
    write_world(world, folder)
    rows = {table: len(frame) for table, frame in world.items() if table in CONTRACTS}
    return folder, rows


def _ingest_killed_at(source, home, step: int) -> int:
    """Run an ingest in a forked process that SIGKILLs itself at ``step``; its exit code."""

    def run() -> None:
        os.environ["ORDERLENS_INGEST__DEBUG_KILL_AT_STEP"] = str(step)
        ingest_sources(source, load_settings(home=home))

    process = multiprocessing.get_context("fork").Process(target=run)
    process.start()
    process.join(timeout=300)
    return process.exitcode


def _assert_lake_holds_exactly(settings, rows: dict[str, int]) -> None:
    for table, n in rows.items():
        stored = lake.read_lake(settings, table)  # readable: no truncated file anywhere
        assert len(stored) == n, table
        assert not stored.duplicated(list(CONTRACTS[table].key)).any(), table
    assert not (settings.lake_dir / STAGING).exists() or not any(
        (settings.lake_dir / STAGING).iterdir()
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phase", "seed"), [(phase, seed) for phase in ("staging", "publishing") for seed in SEEDS[:3]]
)
def test_a_sigkilled_ingest_leaves_a_readable_lake_and_reingest_is_exact(
    tmp_path, small_world, phase, seed
):
    source, rows = small_world
    # How many write steps an ingest of this world takes: one per table staged, the flush, the
    # commit marker, then one per file moved into place.
    dry = load_settings(home=tmp_path / "dry")
    steps = ingest_sources(source, dry).write_steps
    staged_steps = sum(1 for n in rows.values() if n) + 1
    assert steps > staged_steps + 20
    rng = random.Random(seed)
    step = (
        rng.randint(1, staged_steps) if phase == "staging" else rng.randint(staged_steps + 1, steps)
    )
    home = tmp_path / "home"
    assert _ingest_killed_at(source, home, step) == -signal.SIGKILL

    settings = load_settings(home=home)
    for table in rows:  # whatever is there is readable and free of duplicates
        stored = lake.read_lake(settings, table)
        assert not stored.duplicated(list(CONTRACTS[table].key)).any()
        if phase == "staging":
            assert stored.empty, "an uncommitted batch is invisible"
    summary = ingest_sources(source, settings)
    if phase == "staging":  # never committed: removed, and the re-run adds every row once
        assert "removed uncommitted batch" in summary.recovered[0]
        assert all(summary.tables[t].added == n for t, n in rows.items()), "all rows, once"
    else:  # committed: the re-run finishes moving it and adds nothing
        assert "finished committed batch" in summary.recovered[0]
        assert all(summary.tables[t].added == 0 for t in rows)
    _assert_lake_holds_exactly(settings, rows)
    assert ingest_sources(source, settings).as_dict()["orders"]["added"] == 0


@pytest.mark.slow
def test_a_sigkill_from_outside_during_the_write(tmp_path, small_world):
    """Killed by another process (kill -9) while the batch is being written, at a moment this
    test does not choose: the lake is readable and the next ingest makes it exact."""
    source, rows = small_world
    home = tmp_path / "home"
    settings = load_settings(home=home)

    def run() -> None:
        ingest_sources(source, load_settings(home=home))

    process = multiprocessing.get_context("fork").Process(target=run)
    process.start()
    staging = settings.lake_dir / STAGING
    # Wait (bounded, no fixed sleep) until the child is writing its batch, then kill it.
    deadline = 60_000
    while deadline and process.is_alive() and not (staging.is_dir() and any(staging.iterdir())):
        process.join(timeout=0.001)
        deadline -= 1
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    for table in rows:
        lake.read_lake(settings, table)
    ingest_sources(source, settings)
    _assert_lake_holds_exactly(settings, rows)


def test_one_writer_at_a_time(tmp_path):
    write_sources(good_sources(), tmp_path / "src")
    settings = load_settings(home=tmp_path / "home")
    with writer_lock(settings):
        with pytest.raises(
            IngestAlreadyRunning, match=rf"ingest already running .*pid {os.getpid()}"
        ):
            ingest_sources(tmp_path / "src", settings)
        result = CliRunner().invoke(
            app,
            ["ingest", "--source", str(tmp_path / "src")],
            env={"ORDERLENS_HOME": str(tmp_path / "home")},
        )
        assert result.exit_code == 75
        assert "ingest already running" in result.output
    assert ingest_sources(tmp_path / "src", settings).tables["orders"].added == 2


def _cli_error(tmp_path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["ingest", *args], env={"ORDERLENS_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.splitlines()) <= 2, "one clear line, not a traceback"
    return result.output


def test_an_empty_folder_is_an_error_naming_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    message = _cli_error(tmp_path, "--source", str(tmp_path / "empty"))
    assert "no source files found" in message and "orders.csv" in message


def test_a_misnamed_folder_names_what_it_holds(tmp_path):
    folder = tmp_path / "export"
    frames = good_sources()
    folder.mkdir()
    frames["orders"].to_csv(folder / "Orders_2025.CSV", index=False)
    message = _cli_error(tmp_path, "--source", str(folder))
    assert "orders.parquet" in message and "Orders_2025.CSV" in message


@pytest.mark.parametrize("name", ["orders.parquet", "tracking.parquet", "orders.csv"])
def test_a_corrupt_file_is_named(tmp_path, name):
    folder = tmp_path / "src"
    write_sources(good_sources(), folder)
    if name.endswith(".csv"):
        (folder / "orders.parquet").unlink()
        (folder / name).write_bytes(b"order_id,customer_id\n\xff\xfe\x00broken")
    else:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])  # truncated, as a crash leaves it
    message = _cli_error(tmp_path, "--source", str(folder))
    assert str(folder / name) in message and "not a readable" in message
    assert not lake.has_table(load_settings(home=tmp_path / "home"), "orders")


def test_a_required_column_missing_names_it_and_the_remedy(tmp_path):
    tables = {"orders": good_sources()["orders"].drop(columns=["promised_at"])}
    write_sources(tables, tmp_path / "src")
    with pytest.raises(SourceContractError, match="promised_at.*--mapping"):
        ingest_sources(tmp_path / "src", load_settings(home=tmp_path / "home"))


def test_quarantine_files_are_written_whole(tmp_path):
    """Quarantine and notes files are renamed into place: no temporary file is left behind."""
    tables = good_sources()
    tables["orders"].loc[1, "order_value"] = 0.0  # below the 0.01 minimum
    write_sources(tables, tmp_path / "src")
    settings = load_settings(home=tmp_path / "home")
    report = ingest_sources(tmp_path / "src", settings).tables["orders"]
    folder = report.quarantine_file.parent
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert pd.read_csv(report.quarantine_file)["quarantine_rules"].tolist() == ["range:order_value"]


def test_a_damaged_lake_file_is_named_with_the_remedy(tmp_path):
    """A truncated file left by a version without atomic writes: reads name it and say what to
    do, and after moving it away a re-ingest restores exactly its rows."""
    write_sources(good_sources(), tmp_path / "src")
    settings = load_settings(home=tmp_path / "home")
    ingest_sources(tmp_path / "src", settings)
    (damaged,) = sorted((settings.lake_dir / "outcomes").rglob("*.parquet"))[:1]
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(lake.LakeFileError, match=str(damaged)) as error:
        lake.read_lake(settings, "outcomes")
    assert "ingest the sources again" in str(error.value)
    damaged.rename(tmp_path / "damaged.parquet")
    again = ingest_sources(tmp_path / "src", settings).tables["outcomes"]
    assert again.added == 1 and len(lake.read_lake(settings, "outcomes")) == 2
