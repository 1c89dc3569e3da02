"""Governed policy: versions of the Polar policy set kept in the database, proposed,
validated, compared, approved by a second person, activated, and reloaded by every process."""
