"""The consoles' pages and static files (the counter desk): rendered on the server from the
application services' values, with a little JavaScript served from the service itself."""
