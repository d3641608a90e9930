"""Prices for the dashboard tests: make_config's models, USD per 1M tokens in / out, and what a call
costs at a price."""

from __future__ import annotations

TEACHER_PRICE = (5.0, 15.0)  # make_config's teacher, USD per 1M tokens in / out
STUDENT_PRICE = (0.05, 0.1)


def price(tokens_in: int, tokens_out: int, prices: tuple[float, float]) -> float:
    return (tokens_in * prices[0] + tokens_out * prices[1]) / 1e6
