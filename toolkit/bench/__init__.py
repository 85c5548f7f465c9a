"""``noisesearch bench``: studies as grids of cells, run like ``predict``, measured with intervals and paired tests."""
