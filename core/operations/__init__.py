"""Operating Mandate: maintenance windows (announced in advance, or switched on in an
emergency) and what each process knows of them. Not core.maintenance, which is housekeeping
(`mandate purge`)."""
