"""Evaluation tooling, apart from the runtime: the gold set (`gold`), the eval runner
(`evaluate`) and its reports (`report`). Nothing under rag/ outside rag/eval, rag/bench and
rag/training imports these."""
