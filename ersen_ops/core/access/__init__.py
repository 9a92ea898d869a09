"""Access to the admin: allauth's login, the second factor, re-authentication and session limits.

`adapters` plugs our rules into allauth (signup closed), `views` is the operator's own account page.
"""
