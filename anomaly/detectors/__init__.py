"""One module per detector: each checks the monitor state at a time, appends its findings and next due time."""
