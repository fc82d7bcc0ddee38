"""pytest plugin: fixtures for a lab's hosts and pods."""
