"""Capstone variants for `course audit capstone`: realistic mistakes (one each) and other correct
formulations, kept by the part they edit (variants_train.py: 6.1, variants_coder.py: 6.2-6.3,
variants_squeeze.py: 6.4, variants_tradeoff.py: 6.5, variants_model.py: the given gpt.py, caught by
6.6's causality probe). Each variant's `loses` says what it was measured to lose.

A capstone submission takes some 20 s to grade (6.6 unpacks and runs the whole model), so the
default audit, which CI runs, grades every mistake issue 16 names and one more per concept or two
(DEFAULT_WRONG) and four correct formulations (DEFAULT_CORRECT); `course audit capstone --extra`
grades all 56 wrong and 19 correct variants."""

import ast
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.audit import Variant, split_audited
from grader.suites.capstone.hidden import variants_coder, variants_model, variants_squeeze, variants_tradeoff, variants_train

PARTS = (variants_train, variants_coder, variants_squeeze, variants_tradeoff, variants_model)
ALL_WRONG = [v for p in PARTS for v in (*p.WRONG, *getattr(p, "EXTRA_WRONG", []))]
ALL_CORRECT = [v for p in PARTS for v in (*p.CORRECT, *getattr(p, "EXTRA_CORRECT", []))]
DEFAULT_WRONG = {
    # 6.1: the schedule, the rate's unit, evaluation on the training text
    "warmup_off_by_one",
    "bits_in_nats",
    "valid_on_the_training_text",
    # 6.2-6.3: a frequency of 0, underflow (E3), float probabilities,
    # the padding bits, the text coder's model
    "quantize_rounds_without_a_floor_of_one",
    "no_underflow_e3",
    "float_cumulative_probabilities",
    "padding_drops_the_last_partial_byte",
    "encoder_uses_the_full_forward",
    # 6.4: pruning, sharing, the events, the table, a size without the codebooks
    "masks_per_layer",
    "kmeans_levels_never_move",
    "run_reaches_RUN_before_the_filler",
    "table_not_stored",
    "breakdown_without_codebooks",
    # 6.5: units and the crossover
    "ideal_bits_in_nats",
    "crossover_wrong_sign",
    # 6.6: a model that sees ahead
    "causal_mask_off_by_one",
}
DEFAULT_CORRECT = {
    # a coder with other registers (graded with its own model.sqz), pruning, the mask, the schedule
    "registers_of_48_bits",
    "masks_keep_the_largest_sorted_descending",
    "mask_by_triu",
    "cosine_as_half_angle",
}
WRONG, EXTRA_WRONG = split_audited(ALL_WRONG, DEFAULT_WRONG)
CORRECT, EXTRA_CORRECT = split_audited(ALL_CORRECT, DEFAULT_CORRECT)


# -- the variants' own model.sqz (grader.audit: remake_artifacts) -----------------------------------

# What squeeze.pack runs: a variant that edits one of these writes other bytes than the reference's
# model.sqz (a coder with wider registers, a table rounded otherwise), so its model.sqz is packed
# again with its own code from the reference's compressed weights. Other edits (the decoder, unpack,
# training, the text coder) leave pack's bytes as they are: such a variant's model.sqz is the reference's.
PACK_PATH = {
    f"{file}:{name}"
    for file, names in (
        ("coder.py", "PRECISION WHOLE HALF QUARTER MASK MAX_TOTAL check_frequencies check_probabilities quantize Encoder"),
        ("squeeze.py", "MAGIC RUN MAX_BITS TABLE_BITS CONFIG_KEYS matrices codes_of to_events table pack"),
    )
    for name in names.split()
}

UNPACKED = """
import sys, torch
sys.path.insert(0, ".")
import squeeze
model = squeeze.unpack(open("model.sqz", "rb").read())
torch.save({"config": dict(model.config), "state": model.state_dict()}, sys.argv[1])
"""

PACKED = """
import os, sys, torch
sys.path.insert(0, ".")
torch.set_num_threads(1)
import gpt, squeeze
saved = torch.load(sys.argv[1], weights_only=True)
model = gpt.GPT(**saved["config"])
model.load_state_dict(saved["state"])
try:
    data = squeeze.pack(model.eval())
except Exception as e:
    os.remove("model.sqz")  # its author would have had no file to submit
    sys.exit(f"pack failed: {type(e).__name__}: {e}")
open("model.sqz", "wb").write(data)
"""


def edited_names(solutions: Path, variant: Variant) -> set[str]:
    """The top-level names (functions, classes, constants) of the solution that the variant's edits
    fall in, as "file:name"; "file:?" for an edit outside every one."""
    names = set()
    for file, old, _ in variant.edits():
        text = (solutions / file).read_text()
        line = text[: text.index(old)].count("\n") + 1
        last = line + old.rstrip("\n").count("\n")
        hit = "?"
        for node in ast.parse(text).body:
            if node.lineno <= line and last <= (node.end_lineno or node.lineno):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    hit = node.name
                elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    hit = node.targets[0].id
        names.add(f"{file}:{hit}")
    return names


def changes_pack(solutions: Path, variant: Variant) -> bool:
    """Whether an edit falls in PACK_PATH, or outside every top-level name of coder.py or squeeze.py."""
    return any(n in PACK_PATH or n in ("coder.py:?", "squeeze.py:?") for n in edited_names(solutions, variant))


def remake_artifacts(solutions: Path, folders: dict[Variant, Path], jobs: int = 1) -> None:
    """Each variant whose edits are on pack's path gets the model.sqz its own squeeze.pack writes of
    the reference's compressed model (read once with the reference's unpack)."""
    todo = [folder for variant, folder in folders.items() if changes_pack(solutions, variant)]
    if not todo:
        return
    with tempfile.TemporaryDirectory(prefix="capstone-sqz-") as tmp:
        state = Path(tmp) / "compressed.pt"
        subprocess.run([sys.executable, "-B", "-c", UNPACKED, str(state)], cwd=solutions, check=True, capture_output=True)

        def pack(folder: Path) -> None:
            subprocess.run([sys.executable, "-B", "-c", PACKED, str(state)], cwd=folder, capture_output=True, timeout=600)

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(pack, todo))
