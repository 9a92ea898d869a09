"""Uptime history of the public components: status intervals, daily rollups, the 90-day bars.

- `policy.py`: pure rules (day boundaries in the page's zone, seconds per status, the weighting);
- `services.py`: recording intervals when the public status changes, rolling up days, pruning;
- `selectors.py`: the 90-day history and monthly reports, in a constant number of queries.
"""
