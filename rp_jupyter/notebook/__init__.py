"""Everything IPython-facing: magics, cell-input parsing, widgets, renderers, static reprs."""
