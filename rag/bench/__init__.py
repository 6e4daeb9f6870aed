"""Benchmarks, apart from the runtime: `rag bench` (`speed`) and the lexical-leg measurements
at scale (`scale`). Nothing in the runtime imports these."""
