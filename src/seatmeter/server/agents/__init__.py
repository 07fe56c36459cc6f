"""Agents: enrolment, check-in, and what each agent is told to do."""
