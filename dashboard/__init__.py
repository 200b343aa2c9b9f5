"""The eomine Dash app (arrives with the dashboard issue)."""
