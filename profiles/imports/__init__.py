"""CSV import of existing subscriber lists: formats, reading, the Resource, the fast path, jobs.

One code path for the admin (django-import-export and background jobs), the command and the
benchmark: `formats` maps a file's columns to profile fields, `resource.ProfileResource`
declares how each field is cleaned, `fastpath` writes cleaned rows in set-based batches,
`jobs` runs an ImportJob resumably, and `consent` hands explicit consent to the ledger.
"""
