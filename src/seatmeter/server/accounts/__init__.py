"""People and programs that may use the API: accounts and API tokens."""
