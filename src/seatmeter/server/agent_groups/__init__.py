"""Agent groups: which agents monitor, chosen per license server."""
