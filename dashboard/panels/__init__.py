"""One module per panel: its layout function and its @callback functions."""
