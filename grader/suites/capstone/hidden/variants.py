"""Capstone variants for `course audit capstone`: realistic mistakes (one each) and other correct
formulations, kept by the part they edit (variants_train.py: 6.1, variants_coder.py: 6.2-6.3,
variants_squeeze.py: 6.4, variants_tradeoff.py: 6.5, variants_model.py: the given gpt.py, caught by
6.6's causality probe). Each variant's `loses` says what it was measured to lose; the parts keep
the variants too slow or too alike for every audit in EXTRA_WRONG and EXTRA_CORRECT
(`course audit capstone --extra`)."""

from grader.suites.capstone.hidden import variants_coder, variants_model, variants_squeeze, variants_tradeoff, variants_train

PARTS = (variants_train, variants_coder, variants_squeeze, variants_tradeoff, variants_model)
WRONG = [v for p in PARTS for v in p.WRONG]
CORRECT = [v for p in PARTS for v in p.CORRECT]
EXTRA_WRONG = [v for p in PARTS for v in getattr(p, "EXTRA_WRONG", [])]
EXTRA_CORRECT = [v for p in PARTS for v in getattr(p, "EXTRA_CORRECT", [])]
