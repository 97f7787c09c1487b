"""The pure core: records, matching, organisation, phone numbers, segment counting, catalogs. No I/O."""
