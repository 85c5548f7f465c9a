"""Views of a run: the results table (``table``), grid.png (``grid``), report.html (``page``) and lineage SVGs."""
