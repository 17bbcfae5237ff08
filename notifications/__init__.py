"""Notices to publishers: the catalog, templates, rendering, SMTP sending and the local sink."""
