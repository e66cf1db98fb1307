# ruff: noqa: F821
# mypy: disable-error-code="name-defined,attr-defined"
# One part of the capstone's drivers: 00_common.py says how the parts make one module.

# -- task 6.6: the submitted compressed model ----------------------------------------------------


def artifact_unpack_probe() -> None:
    """squeeze.unpack on no data: what a submission without model.sqz is asked, so that the stubs
    fail with their NotImplementedError and finished code with the missing file."""
    importlib.import_module("squeeze").unpack(b"")


artifact_unpacked: dict = {}  # model.sqz's bytes -> the model: unpacked once for the public and hidden texts


def artifact_model(data: bytes):
    """The student's squeeze.unpack of `data` (model.sqz's bytes, read on the grading side), once."""
    data = bytes(data)
    if data not in artifact_unpacked:
        artifact_unpacked.clear()
        artifact_unpacked[data] = importlib.import_module("squeeze").unpack(data)
    return artifact_unpacked[data]


def artifact_run(data: bytes, texts: list) -> dict:
    """The student's squeeze.unpack of `data`, and the model's logits (n, vocab) on each text (ids)
    by its own forward, in the handout's windows."""
    model = artifact_model(data)
    model.eval()
    logits = [window_logits(model, torch.as_tensor(t, dtype=torch.int64)) for t in texts]
    return {"state": state_of(model), "logits": logits}
