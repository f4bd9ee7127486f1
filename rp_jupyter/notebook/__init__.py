"""Everything IPython-facing: magics, cell-input parsing, widgets, renderers, static reprs."""

from rp_jupyter.notebook import cost_view as _cost_view

_cost_view.install()  # what jobs cost and why they wait, in every panel
