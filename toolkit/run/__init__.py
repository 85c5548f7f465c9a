"""One run in one folder, without Lightning: its session (folder, journal, replay, results, summary) and the views
of a run (the results table, grid.png and report.html)."""
