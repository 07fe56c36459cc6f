"""The HTTP layer shared by every feature: app, state, paging, limits."""
