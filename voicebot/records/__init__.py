"""Call records: what happened on each call, kept with as little personal data as the job needs."""
