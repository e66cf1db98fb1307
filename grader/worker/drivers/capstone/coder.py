"""Drivers of tasks 6.2 and 6.3 (the student's coder.py): they run the student's Encoder, Decoder,
quantize, compress_text and decompress_text on what the grading side sends and return the raw
outputs (streams, decoded symbols, texts, logits), nothing judged.

A coder that never returns (an interval straddling 1/2 that shrinks to nothing without E3 makes the
renormalization loop forever) is stopped after a budget of CPU time, counted by the process's own
timer (ITIMER_VIRTUAL, so a loaded machine does not shorten it): the driver then says where it
stopped, and the grading side names the cause.
"""

import importlib
import signal
import time
import traceback

import torch


class coder_OutOfTime(BaseException):  # BaseException: an `except Exception` in student code lets it through
    """The CPU-time budget of one call ran out."""


class coder_budget:
    """`with coder_budget(seconds):` raises coder_OutOfTime in the block after `seconds` of CPU time."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def _expired(self, signum, frame):
        raise coder_OutOfTime()

    def __enter__(self):
        self.previous = signal.signal(signal.SIGVTALRM, self._expired)
        signal.setitimer(signal.ITIMER_VIRTUAL, self.seconds)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, self.previous)
        return False


def coder_module():
    return importlib.import_module("coder")


def coder_quantize(cases: list) -> list:
    """quantize(probs) (bits None) or quantize(probs, bits) for each (probs, bits) of `cases`: the raw outputs."""
    quantize = coder_module().quantize
    return [quantize(p) if bits is None else quantize(p, bits) for p, bits in cases]


def coder_round_trip(symbols: list, freqs, shorter: bool) -> dict:
    """One message through a new Encoder (encode each symbol with its row of `freqs`, then finish) and
    a new Decoder of the stream (decode once per row); with `shorter`, also a Decoder of the stream
    without its last byte (what it raised instead, if it did). "stopped": where the budget ran out
    ("encode 17", "finish", "decode 3", "shorter"), None if it did not; "error": where the student's
    code raised, and what."""
    c = coder_module()
    rows = [[int(x) for x in row] for row in freqs]
    out: dict = {"data": None, "decoded": [], "shorter": None, "stopped": None, "error": None}
    stage = "encode 0"
    try:
        encoder = c.Encoder()
        for i, s in enumerate(symbols):
            stage = f"encode {i}"
            encoder.encode(int(s), rows[i])
        stage = "finish"
        out["data"] = data = encoder.finish()
        if type(data) is not bytes:
            return out
        decoder = c.Decoder(data)
        for i, row in enumerate(rows):
            stage = f"decode {i}"
            out["decoded"].append(decoder.decode(row))
        if shorter and data:
            stage, out["shorter"] = "shorter", []
            try:
                decoder = c.Decoder(data[:-1])
                for row in rows:
                    out["shorter"].append(decoder.decode(row))
            except NotImplementedError:
                raise
            except Exception as e:  # a stream cut short may be refused: it does not decode to the message
                out["shorter"] = coder_error_words(e)
    except coder_OutOfTime:
        out["stopped"] = stage
    except NotImplementedError:
        raise  # a stub: the test fails as not implemented
    except Exception as e:  # the student's error, reported with where it happened
        out["error"] = {"stage": stage, "error": coder_error_words(e)}
    return out


def coder_error_words(e: BaseException) -> str:
    """ "IndexError at coder.py:224: list index out of range": the exception and its innermost frame."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(e).__name__}{where}: {str(e)[:300]}"


def coder_round_trips(problems: list, seconds: float = 2.0) -> list:
    """coder_round_trip of each {"symbols", "freqs", "shorter"} of `problems`, each within `seconds` of
    CPU time; the first that runs out of time or raises ends the list."""
    results = []
    for p in problems:
        with coder_budget(seconds):
            results.append(coder_round_trip(p["symbols"], p["freqs"], bool(p.get("shorter"))))
        if results[-1]["stopped"] or results[-1]["error"]:
            break
    return results


def coder_model(config: dict, state: dict):
    """The student's gpt.GPT(**config) holding `state`, in eval mode."""
    model = importlib.import_module("gpt").GPT(**config)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model.eval()


@torch.no_grad()
def coder_step_logits(model, ids: torch.Tensor, context: int) -> torch.Tensor:
    """The model's logits (n, vocab) for each character of `ids`, from its own model.step: all the
    windows of gpt.windows' reading side by side (a batch), one step per position, a new cache per
    window (the last window is padded with START inputs, their logits dropped)."""
    n = len(ids)
    W = -(-n // context)
    inputs = torch.zeros(W * context, dtype=torch.int64)
    inputs[1:n] = ids[:-1]
    inputs = inputs.view(W, context)
    cache, out = None, []
    for t in range(context):
        logits, cache = model.step(inputs[:, t], cache)
        out.append(logits.detach().float())
    return torch.stack(out, dim=1).reshape(W * context, -1)[:n].contiguous()


def coder_texts(config: dict, state: dict, texts: list, ids: list, per_char_s: float = 0.005) -> list:
    """For each text: compress_text, then decompress_text of its bytes, with the student's GPT holding
    `state`, and the logits of the model's own step path (coder_step_logits of `ids`, the text's
    characters as the grading side numbers them). Each call gets 2 s + per_char_s s per character of
    CPU time; "stopped" says which ran out ("compress_text", "decompress_text")."""
    c = coder_module()
    model = coder_model(config, state)
    threads = torch.get_num_threads()
    results = []
    for text, text_ids in zip(texts, ids):
        out: dict = {"data": None, "text": None, "logits": None, "stopped": None, "seconds": {}}
        budget = 2.0 + per_char_s * len(text)
        for stage in ("compress_text", "decompress_text"):
            started = time.process_time()
            try:
                with coder_budget(budget):
                    if stage == "compress_text":
                        out["data"] = c.compress_text(model, text)
                    else:
                        out["text"] = c.decompress_text(model, out["data"])
            except coder_OutOfTime:
                out["stopped"] = stage
                break
            finally:
                torch.set_num_threads(threads)
                out["seconds"][stage] = time.process_time() - started
            if stage == "compress_text" and type(out["data"]) is not bytes:
                break
        if len(text_ids):
            out["logits"] = coder_step_logits(model, torch.as_tensor(text_ids), model.context)
        results.append(out)
        if out["stopped"]:
            break
    return results
