"""The Seatmeter server: agent API, admin API, and what sits behind them."""
