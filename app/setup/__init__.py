"""The setup screens under /spaces/<space>/: links, keys, destinations, domains, members, settings."""
