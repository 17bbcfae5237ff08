"""Image scanner core: pure, synchronous, no database and no Temporal.

    inventory = read_inventory("oci:/path/to/layout:1.0")      # scanner.inventory
    advisories = [r for r in read_records(path) if isinstance(r, Advisory)]  # scanner.osv
    findings = match(inventory.components, advisories, related)  # scanner.matching
    summary = summarise(tier, tag, inventory, findings)           # scanner.summary

``ImageError`` (scanner.image) and ``InvalidAdvisory`` (scanner.osv) carry one-line
messages meant for publishers and operators.
"""
