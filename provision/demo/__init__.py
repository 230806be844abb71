"""The demo: its data dir settings and the demo machine (`provision demo --vm`)."""
