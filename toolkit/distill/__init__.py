"""``noisesearch distill``: train an early verifier (``noisesearch.student``) on trajectories the pipeline makes
itself, the final score of a named verifier as the target (TTSnap, arXiv 2511.22242)."""
