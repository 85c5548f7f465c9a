"""What a run leaves on disk: the run folder (``folder.RunDir``), the per-rank journal and its typed records."""
