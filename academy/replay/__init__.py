"""Replaying real LLM outcome data (RouteLLM, RouterBench, LLMRouter) through Academy's router."""
