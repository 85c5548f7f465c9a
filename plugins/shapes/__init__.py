"""The ``shapes`` world (work in progress, issue #8): scenes, captions and ground truth; no model trained yet."""
