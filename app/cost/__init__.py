"""Costs: spend per day and scope (link, campaign, ad set, ad), entered by form, CSV or POST /costs."""
