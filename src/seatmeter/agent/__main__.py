from seatmeter.agent.cli import main

main()
