"""License servers: the Autodesk teams Seatmeter reads entitlements from."""
