"""The Autodesk connector: Team Admin API client, OAuth, paced sync, import."""
