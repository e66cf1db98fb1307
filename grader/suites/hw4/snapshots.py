"""What `course snapshot hw4` stores: the reference's outputs on fixed inputs where no library gives
the answer (k-means sharing, Huffman bit counts, layer sizes). Each part's cases live with its tests'
helpers (`quantize_cases`, `size_cases`)."""

from grader.suites.hw4 import quantize_cases, size_cases


def make(submission) -> dict:
    return {"quantize": quantize_cases.make(submission), "compress": size_cases.make(submission)}
