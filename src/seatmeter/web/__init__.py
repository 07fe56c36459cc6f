"""The web UI: server-rendered pages over the server's own services.

`seatmeter.web.app.mount` adds the pages to the server's app. Each page
area is one module in `pages/` with its routes, and one template or a
few in `templates/`; `grid.py` gives every grid its paging, sorting,
filtering, column choice and export.
"""
