"""Graph's OData query options, pure: parse the query string into a typed tree, no I/O."""
