"""Duban (督办): the domain of the supervision bot — config, storage, clock and services."""

__version__ = "0.13.0"
