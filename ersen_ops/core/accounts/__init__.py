"""Who may log in and what happened when they tried: lockout (django-axes), login records, audited user changes."""
