"""One module per page area: its routes, each a few lines over a service."""
