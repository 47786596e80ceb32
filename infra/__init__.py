"""What creates and seeds resources: template-driven tables and the local server."""
