"""One module per Graph resource; each handler parses, calls the domain, serializes."""
