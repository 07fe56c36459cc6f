"""The product catalog agents match processes with, pushed by revision."""
