"""noisesearch's built-in plugins, registered through the same ``noisesearch`` entry points a third party uses."""
