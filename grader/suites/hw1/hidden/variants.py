"""hw1 variants for `course audit hw1`: realistic mistakes and other correct answers (see grader.audit)."""

from grader.audit import Variant

CONDITIONAL_ENTROPY_IDS = (
    '    _, ids = np.unique(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_inverse=True)\n'
)
CONDITIONAL_ENTROPY_CHECK = (
    "    if k < 0 or len(text) <= k:\n"
    '        raise ValueError(f"need 0 <= k < len(text), got k={k} for {len(text)} characters")\n'
)
COUNTERS = (  # F_k from a Counter of (k+1)-character windows, summed by context
    "    from collections import Counter\n"
    "    pairs = Counter(text[i - k : i + 1] for i in range(k, len(text)))\n"
    "    ctx = Counter()\n"
    "    for g, c in pairs.items():\n"
    "        ctx[g[:-1]] += c\n"
    "    return -sum(c / (len(text) - k) * math.log(c / ctx[g[:-1]], base) for g, c in pairs.items()) + 0.0\n"
)
DECODE_TABLE = "    table = {word: symbol for symbol, word in code.items()}\n"
ENCODE_RETURN = 'return (int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""), n_bits'

WRONG = [
    # 1.1 entropy
    Variant(
        "nats_instead_of_bits",
        "information.py",
        "return float(-(nz * np.log(nz)).sum() / math.log(base)) + 0.0",
        "return float(-(nz * np.log(nz)).sum()) + 0.0",
        ("1.1",),
        says="looks like nats",
    ),
    Variant("log_of_zero", "information.py", "    nz = p[p > 0]\n", "    nz = p\n", ("1.1",), says="0 * log 0 must count as 0"),
    Variant(
        "entropy_accepts_non_distributions",
        "information.py",
        "    p = check_distribution(p)\n",
        "    p = np.asarray(p, dtype=float)\n",
        ("1.1",),
        says="not a distribution",
    ),
    # 1.2 cross-entropy and KL divergence
    Variant(
        "kl_arguments_swapped",
        "information.py",
        "ps, qs = p[support], q[support]",
        "ps, qs = q[support], p[support]",
        ("1.2",),
        says="D(q||p)",
    ),
    Variant(
        "kl_sums_over_zero_p_terms",
        "information.py",
        "ps, qs = p[support], q[support]",
        "ps, qs = p, q",
        ("1.2",),
        says="terms with p = 0 contribute 0",
    ),
    Variant(
        "cross_entropy_arguments_swapped",
        "information.py",
        "return float(-(p[support] * np.log(q[support])).sum() / math.log(base)) + 0.0",
        "return float(-(q[support] * np.log(p[support])).sum() / math.log(base)) + 0.0",
        ("1.2",),
        says="this is H(q, p)",
    ),
    # 1.3 mutual information
    Variant(
        "mutual_information_wrong_axis",
        "information.py",
        "px = pxy.sum(axis=1, keepdims=True)  # (|X|, 1)",
        "px = pxy.sum(axis=0, keepdims=True).T",
        ("1.3",),
        says="a marginal over the wrong axis",
    ),
    Variant(
        "mutual_information_ratio_inverted",
        "information.py",
        "return max(0.0, float((pxy[nz] * np.log(ratio)).sum() / math.log(base)))",
        "return float((pxy[nz] * np.log(1 / ratio)).sum() / math.log(base))",
        ("1.3",),
        says="never negative",
    ),
    Variant(
        "mutual_information_accepts_any_table",
        "information.py",
        '    check_distribution(pxy.ravel(), "joint")\n',
        "",
        ("1.3",),
        says="not a joint distribution",
    ),
    # 1.4 conditional entropy
    Variant(
        "context_one_character_short",
        "information.py",
        "    for j in range(k):\n",
        "    for j in range(1, k):\n",
        ("1.4",),
        says="one character short",
    ),
    Variant(
        "conditional_entropy_of_blocks",
        "information.py",
        "np.log(pair_counts / context_counts)",
        "np.log(pair_counts / (n - k))",
        ("1.4",),
        says="entropy of whole (k+1)-character blocks",
    ),
    Variant(
        "conditional_entropy_divides_by_len_text",
        "information.py",
        "pair_counts / (n - k) * np.log",
        "pair_counts / n * np.log",
        ("1.4",),
        says="divide by len(text)",
    ),
    Variant(
        "conditional_entropy_accepts_short_text",
        "information.py",
        CONDITIONAL_ENTROPY_CHECK,
        '    if k < 0:\n        raise ValueError(f"need k >= 0, got k={k}")\n' + COUNTERS,
        ("1.4",),
        says="no position has",
    ),
    # 1.5 Huffman code lengths
    Variant(
        "shannon_code_not_optimal",
        "huffman.py",
        "    lengths = {s: 0 for s in freqs}\n",
        "    total = sum(freqs.values())\n    return {s: max(1, math.ceil(-math.log2(f / total))) for s, f in freqs.items()}\n",
        ("1.5",),
        says="the optimum is",
    ),
    Variant(
        "huffman_merges_the_most_frequent",
        "huffman.py",
        "heap = [(f, i, [s]) for i, (s, f) in enumerate(sorted(freqs.items()))]",
        "heap = [(-f, i, [s]) for i, (s, f) in enumerate(sorted(freqs.items()))]",
        ("1.5",),
        says="merge the two least frequent subtrees",
    ),
    Variant(
        "single_symbol_gets_zero_bits",
        "huffman.py",
        "    if len(freqs) == 1:\n        return {s: 1 for s in freqs}\n",
        "",
        ("1.5",),
        says="a single symbol still needs 1 bit",
    ),
    # 1.6 canonical code and Kraft sum
    Variant(
        "canonical_code_not_prefix_free",
        "huffman.py",
        "value = (value + 1) << (n - previous)",
        "value = value + 1",
        ("1.6",),
        says="not prefix-free",
    ),
    Variant(
        "canonical_ties_not_in_symbol_order",
        "huffman.py",
        "key=lambda item: (item[1], item[0])",
        "key=lambda item: item[1]",
        ("1.6",),
        says="sorted by (length, symbol)",
    ),
    Variant(
        "canonical_code_accepts_impossible_lengths",
        "huffman.py",
        "    if sum(Fraction(1, 2**n) for n in lengths.values()) > 1:\n"
        '        raise ValueError("the Kraft sum exceeds 1: no prefix code has these lengths")\n',
        "",
        ("1.6",),
        says="no prefix code has these lengths",
    ),
    Variant(
        "kraft_sum_wrong_sign",
        "huffman.py",
        "return float(sum(Fraction(1, 2**n) for n in lengths.values()))",
        "return float(sum(Fraction(2**n) for n in lengths.values()))",
        ("1.6",),
        says="the exponent is -l",
    ),
    # 1.7 encoder and decoder
    Variant(
        "decoder_reads_the_padding",
        "huffman.py",
        'f"0{8 * len(data)}b")[:n_bits]',
        'f"0{8 * len(data)}b")',
        ("1.7",),
        says="stop after n_bits",
    ),
    Variant(
        "encoder_least_significant_bit_first",
        "huffman.py",
        ENCODE_RETURN,
        "return bytes(int(padded[i:i + 8][::-1], 2) for i in range(0, len(padded), 8)), n_bits",
        ("1.7",),
        says="reversed within the byte",
    ),
    Variant(
        "encoder_n_bits_counts_the_padding",
        "huffman.py",
        ENCODE_RETURN,
        ENCODE_RETURN.replace(", n_bits", ", len(padded)"),
        ("1.7",),
        says="counts the 3 padding bits",
    ),
    Variant(
        "decoder_accepts_a_truncated_codeword",
        "huffman.py",
        '    if word:\n        raise ValueError("the bits end inside a codeword")\n',
        "",
        ("1.7",),
        says="ends inside a codeword",
    ),
    Variant(
        "decoder_skips_bits_no_codeword_begins_with",
        "huffman.py",
        '            raise ValueError(f"no codeword begins with the bits {word}")\n',
        '            word = ""\n',
        ("1.7",),
        says="no codeword begins with",
    ),
    Variant(
        "decoder_accepts_n_bits_past_the_data",
        "huffman.py",
        "    if n_bits > 8 * len(data):\n"
        '        raise ValueError(f"n_bits={n_bits} but the data holds only {8 * len(data)} bits")\n',
        "",
        ("1.7",),
        says="more than the data holds",
    ),
    Variant(
        "encoder_skips_characters_without_a_codeword",
        "huffman.py",
        '    missing = set(text) - set(code)\n    if missing:\n        raise ValueError(f"no codeword for {sorted(missing)!r}")\n'
        '    bits = "".join(map(code.__getitem__, text))\n',
        '    bits = "".join(code.get(c, "") for c in text)\n',
        ("1.7",),
        says="without a codeword for 'c'",
    ),
    Variant(
        "encoder_returns_a_bytearray",
        "huffman.py",
        ENCODE_RETURN,
        'return bytearray(int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""), n_bits',
        ("1.7",),
        says="data must be bytes, got bytearray",
    ),
    Variant(
        "encoder_adds_a_spare_byte",
        "huffman.py",
        ENCODE_RETURN,
        'return (int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b"") + bytes(n_bits % 8 == 0), n_bits',
        ("1.7",),
        says="only the last one padded",
    ),
    Variant(
        "decoder_returns_a_list_of_characters",
        "huffman.py",
        '    return "".join(out)\n    ### END SOLUTION',
        "    return out\n    ### END SOLUTION",
        ("1.7",),
        says="expected str, got a list",
    ),
    Variant(
        "code_lengths_as_floats",
        "huffman.py",
        "            lengths[s] += 1\n",
        "            lengths[s] += 1.0\n",
        ("1.5", "1.8"),
        says="expected an integer",
    ),
    Variant(
        "canonical_code_one_symbol_short",
        "huffman.py",
        "    for symbol, n in sorted(lengths.items(), key=lambda item: (item[1], item[0])):",
        "    for symbol, n in sorted(lengths.items(), key=lambda item: (item[1], item[0]))[:-1] if len(lengths) > 1 else lengths.items():",
        ("1.6",),
        says="entries, expected one per symbol",
    ),
    # 1.8 compression report
    Variant(
        "compression_ratio_inverted",
        "huffman.py",
        '"zlib": 8 * n / (8 * len(zlib.compress(raw))),',
        '"zlib": len(zlib.compress(raw)) / n,',
        ("1.8",),
        says="the ratio is original/compressed",
    ),
    Variant(
        "report_counts_padding_as_payload",
        "huffman.py",
        "    huffman_bits = sum(counts[s] * lengths[s] for s in counts)\n",
        "    huffman_bits = 8 * len(encode(text, canonical_code(lengths))[0])\n",
        ("1.8",),
        says="not Huffman payload",
    ),
    Variant(
        "huffman_ratio_counts_padding",
        "huffman.py",
        '"huffman": 8 * n / huffman_bits,',
        '"huffman": 8 * n / (8 * math.ceil(huffman_bits / 8)),',
        ("1.8",),
        says="not Huffman payload",
    ),
    Variant(
        "avg_length_not_weighted",
        "huffman.py",
        '"avg_length": huffman_bits / n,',
        '"avg_length": sum(lengths.values()) / len(lengths),',
        ("1.8",),
        says="weight each by p(s)",
    ),
]

CORRECT = [
    Variant(
        "canonical_code_complemented",
        "huffman.py",
        'code[symbol] = format(value, f"0{n}b")',
        'code[symbol] = format(value, f"0{n}b").translate(str.maketrans("01", "10"))',
    ),
    Variant(
        "huffman_other_tie_breaking",
        "huffman.py",
        "heap = [(f, i, [s]) for i, (s, f) in enumerate(sorted(freqs.items()))]",
        "heap = [(f, -i, [s]) for i, (s, f) in enumerate(sorted(freqs.items(), reverse=True))]",
    ),
    Variant(
        "entropy_in_plain_python",
        "information.py",
        "return float(-(nz * np.log(nz)).sum() / math.log(base)) + 0.0",
        "return -sum(x * math.log(x, base) for x in nz.tolist()) + 0.0",
    ),
    Variant("conditional_entropy_with_counters", "information.py", CONDITIONAL_ENTROPY_IDS, COUNTERS),
    Variant(
        "conditional_entropy_with_unique_rows",
        "information.py",
        CONDITIONAL_ENTROPY_IDS,
        "    codes = np.array([ord(c) for c in text], dtype=np.int64)\n"
        "    windows = np.lib.stride_tricks.sliding_window_view(codes, k + 1)  # (N, k + 1)\n"
        "    _, pair_of, pair_counts = np.unique(windows, axis=0, return_inverse=True, return_counts=True)\n"
        "    _, ctx_of, ctx_counts = np.unique(windows[:, :k], axis=0, return_inverse=True, return_counts=True)\n"
        "    p_next = pair_counts[pair_of.ravel()] / ctx_counts[ctx_of.ravel()]  # p(x | c) at each position\n"
        "    return float(-np.log(p_next).mean() / math.log(base)) + 0.0\n",
    ),
    Variant(
        "mutual_information_from_entropies",
        "information.py",
        "    px = pxy.sum(axis=1, keepdims=True)  # (|X|, 1)\n",
        "    return entropy(pxy.sum(axis=1), base) + entropy(pxy.sum(axis=0), base) - entropy(pxy.ravel(), base)\n",
    ),
    Variant(
        "kl_as_cross_entropy_minus_entropy",
        "information.py",
        "    ps, qs = p[support], q[support]\n",
        "    return cross_entropy(p, q, base) - entropy(p, base)\n",
    ),
    Variant(
        "decoder_walks_a_tree",
        "huffman.py",
        DECODE_TABLE,
        "    root: dict = {}\n"
        "    for symbol, word in code.items():\n"
        "        node = root\n"
        "        for bit in word[:-1]:\n"
        "            node = node.setdefault(bit, {})\n"
        "        node[word[-1]] = symbol\n"
        "    out, node = [], root\n"
        "    for bit in bits:\n"
        "        node = node.get(bit)\n"
        "        if node is None:\n"
        '            raise ValueError("no codeword begins with these bits")\n'
        "        if isinstance(node, str):\n"
        "            out.append(node)\n"
        "            node = root\n"
        "    if node is not root:\n"
        '        raise ValueError("the bits end inside a codeword")\n'
        '    return "".join(out)\n' + DECODE_TABLE,
    ),
    Variant(
        "report_bits_from_the_encoder",
        "huffman.py",
        "    huffman_bits = sum(counts[s] * lengths[s] for s in counts)\n",
        "    huffman_bits = encode(text, canonical_code(lengths))[1]\n",
    ),
    Variant(
        "kraft_sum_in_floats",
        "huffman.py",
        "return float(sum(Fraction(1, 2**n) for n in lengths.values()))",
        "return sum(2.0 ** -n for n in lengths.values())",
    ),
]
