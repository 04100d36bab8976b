"""Usage-based maintenance: the pure forecaster (daily use, due dates, unusual-use flags), the censored
Weibull failure model, and simulated fleets for tests and benchmarks. No Django in here."""
