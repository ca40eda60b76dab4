"""Sources: the catalog, what each source published (raw entries) and each source's health."""
