"""The console's reads from SQL, one module per resource its routers serve; each returns a view of console/views.py."""
