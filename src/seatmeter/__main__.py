from seatmeter.cli import main

main()
