"""`trainer.logger` works: TensorBoard and CSV get NFEs, searches finished, candidates/s and the best score so far,
read back with their own readers."""

import csv

ARGS = ["--data.classes", "3,7", "--model.budget_nfe", "56", "--model.batch_size", "4", "--quiet", "true"]


def test_tensorboard_events_read_back(in_process, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    done = in_process("predict", *ARGS, "--out", str(tmp_path / "run"), "--trainer.logger", "TensorBoardLogger",
                      "--trainer.logger.save_dir", str(tmp_path / "tb"))
    assert done.returncode == 0, done.stderr[-2000:]
    (events,) = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert {"nfe", "searches_finished", "candidates_per_s", "best_score"} <= set(accumulator.Tags()["scalars"])
    nfe = [event.value for event in accumulator.Scalars("nfe")]
    assert nfe == sorted(nfe) and nfe[-1] == 2 * 56 and len(nfe) >= 4  # batches of 4 candidates, not one point
    assert accumulator.Scalars("searches_finished")[-1].value == 2
    assert 0 < accumulator.Scalars("best_score")[-1].value <= 1


def test_csv_rows_per_batch_of_candidates(in_process, tmp_path):
    done = in_process("predict", *ARGS, "--out", str(tmp_path / "run"), "--trainer.logger", "CSVLogger",
                      "--trainer.logger.save_dir", str(tmp_path / "csv"))
    assert done.returncode == 0, done.stderr[-2000:]
    (metrics,) = list((tmp_path / "csv").rglob("metrics.csv"))
    rows = list(csv.DictReader(metrics.open()))
    assert len(rows) >= 4 and float(rows[-1]["nfe"]) == 112 and float(rows[-1]["searches_finished"]) == 2
