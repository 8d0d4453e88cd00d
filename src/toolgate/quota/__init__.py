"""Quota: window math, counter keys and all-or-none reservations over any CounterStore."""
