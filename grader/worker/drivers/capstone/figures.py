# ruff: noqa: F821
# mypy: disable-error-code="name-defined,attr-defined"
# One part of the capstone's drivers: 00_common.py says how the parts make one module.

# -- `course plot capstone` ---------------------------------------------------------------------


def figures_stages(config: dict, state: dict, sparsity: float, bits: int) -> dict:
    """The student's pipeline without fine-tuning on a float32 state: squeeze.global_masks applied
    (pruned), squeeze.compress (pruned and shared), their squeeze.stage_bytes, and pack's length."""
    squeeze = importlib.import_module("squeeze")
    model = student_gpt(config, state)
    weights = {n: p.detach() for n, p in model.state_dict().items() if p.dim() == 2}
    masks = squeeze.global_masks(weights, sparsity)
    pruned = {k: v * masks[k] if k in masks else v for k, v in state_of(model).items()}
    shared = squeeze.compress(student_gpt(config, state), sparsity, bits)
    return {
        "pruned": pruned,
        "pruned_bytes": squeeze.stage_bytes(student_gpt(config, pruned), bits),
        "shared": state_of(shared),
        "shared_bytes": squeeze.stage_bytes(shared, bits),
    }


def figures_unpack(data: bytes) -> dict:
    return state_of(artifact_model(data))


def figures_size_curve(text: str, lengths: list, model_bytes: int, model_bpc: float) -> dict:
    return importlib.import_module("tradeoff").size_curve(text, lengths, model_bytes, model_bpc)
