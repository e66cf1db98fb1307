"""Drivers for hw4: build the networks the student's functions take, call those functions, and
return their raw outputs (weights, values, gradients), nothing judged.

A network crosses as a spec, a list of layers such as ["Linear", 784, 300, True] or ["Conv2d", 1,
4, 3, 1, 1, True] (in, out, kernel, stride, padding, bias), ["ReLU"], ["Flatten"], ["MaxPool2d", 2],
and a state dict of tensors. The grading side rebuilds what comes back with `build` and decides
everything itself: it reruns each training on its own, recounts every size and scores every
network. Student code can replace anything here, so nothing returned is trusted.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

LAYERS = {
    "Linear": lambda a: nn.Linear(a[0], a[1], bias=a[2]),
    "Conv2d": lambda a: nn.Conv2d(a[0], a[1], a[2], stride=a[3], padding=a[4], bias=a[5]),
    "ReLU": lambda a: nn.ReLU(),
    "Tanh": lambda a: nn.Tanh(),
    "Flatten": lambda a: nn.Flatten(),
    "MaxPool2d": lambda a: nn.MaxPool2d(a[0]),
    "AvgPool2d": lambda a: nn.AvgPool2d(a[0]),
    "Dropout": lambda a: nn.Dropout(a[0]),
    "Identity": lambda a: nn.Identity(),
}


def build(spec: list, state: dict | None = None) -> nn.Sequential:
    """The nn.Sequential of `spec`, holding `state` when given (its sizes are then those of the
    state's tensors: a pruned network rebuilds at its own shapes)."""
    layers = []
    for i, (kind, *args) in enumerate(spec):
        if kind not in LAYERS:
            raise ValueError(f"layer {i}: unknown kind {kind!r}")
        if state is not None and kind in ("Linear", "Conv2d"):
            w = state[f"{i}.weight"]
            args = [int(w.shape[1]), int(w.shape[0]), *args[2:]]
        layers.append(LAYERS[kind](args))
    model = nn.Sequential(*layers)
    if state is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model


def spec_of(model) -> list:
    """What the student's network is made of, layer by layer, for the grading side to rebuild:
    [kind, the numbers `build` needs] for the layers `build` knows, [type name] for others."""
    out = []
    for layer in model:
        kind = type(layer).__name__
        if isinstance(layer, nn.Linear):
            out.append([kind, layer.in_features, layer.out_features, layer.bias is not None])
        elif isinstance(layer, nn.Conv2d):
            k, s, p = layer.kernel_size, layer.stride, layer.padding
            out.append(
                [kind, layer.in_channels, layer.out_channels, k[0], s[0], p[0] if type(p) is tuple else p, layer.bias is not None]
            )
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            out.append([kind, layer.kernel_size])
        elif isinstance(layer, nn.Dropout):
            out.append([kind, layer.p])
        else:
            out.append([kind])
    return out


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def masked_training(spec: list, state: dict, masks: dict, x, target, optimizer: str, settings: dict, steps: int) -> dict:
    """The student's apply_masks on the network, then `steps` steps of torch.optim.<optimizer>,
    created after it, on the mean squared error of the network's output against `target`: whether
    apply_masks returned the network, and the weights after it and after every step."""
    model = build(spec, state)
    returned = importlib.import_module("prune").apply_masks(model, masks)
    states = [_state(model)]
    opt = getattr(torch.optim, optimizer)(model.parameters(), **settings)
    x, target = torch.as_tensor(x), torch.as_tensor(target)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), target).backward()
        opt.step()
        states.append(_state(model))
    return {"returned_model": returned is model, "states": states}


def prune_neurons(spec: list, state: dict, keep: float, norm: int) -> dict:
    """The student's prune_neurons on the network: the network it returned (spec and state) and the
    original's state afterwards."""
    model = build(spec, state)
    new = importlib.import_module("prune").prune_neurons(model, keep, norm)
    layers = list(new) if isinstance(new, nn.Sequential) else None
    return {
        "spec": None if layers is None else spec_of(new),
        "state": None if layers is None else _state(new),
        "original": _state(model),
        "type": type(new).__name__,
    }


def fake_quantize(x, scale, zero_point, bits, symmetric, axis, upstream) -> dict:
    """The student's fake_quantize forward on x and backward of `upstream` through it: the output,
    x's gradient and the gradient that reached scale (None when none did)."""
    x = torch.as_tensor(x).clone().requires_grad_(True)
    scale = torch.as_tensor(scale).clone().requires_grad_(True)
    y = importlib.import_module("quantize").fake_quantize(x, scale, zero_point, bits, symmetric, axis)
    if isinstance(y, torch.Tensor) and y.requires_grad:
        y.backward(torch.as_tensor(upstream).to(y.dtype))
    return {"y": y.detach() if isinstance(y, torch.Tensor) else y, "grad": x.grad, "scale_grad": scale.grad}


def quant_training(spec: list, state: dict, x, labels, bits: int, per_channel: bool, epochs: int, lr: float, seed: int) -> dict:
    """The network's Linear layers replaced by the given QuantLinear (the student's qparams and
    fake_quantize inside), trained with Adam on cross-entropy, batches of 64 in an order drawn from
    `seed`: the float weights after training."""
    quantize = importlib.import_module("quantize")
    model = build(spec, state)
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            model[i] = quantize.QuantLinear.from_linear(layer, bits=bits, symmetric=True, per_channel=per_channel)
    x, labels = torch.as_tensor(x).flatten(1), torch.as_tensor(labels)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), labels[batch]).backward()
            opt.step()
    return _state(model)


def distillation(student_logits, teacher_logits, labels, T, alpha) -> dict:
    """The student's distillation_loss and its backward pass: the loss and the gradients that reached
    the student's and the teacher's logits (None when none did)."""
    s = torch.as_tensor(student_logits).clone().requires_grad_(True)
    t = torch.as_tensor(teacher_logits).clone().requires_grad_(True)
    loss = importlib.import_module("distill").distillation_loss(s, t, torch.as_tensor(labels), T, alpha)
    if isinstance(loss, torch.Tensor) and loss.requires_grad and loss.numel() == 1:
        loss.backward()
    return {"loss": loss.detach() if isinstance(loss, torch.Tensor) else loss, "grad": s.grad, "teacher_grad": t.grad}


SIZE_FIELDS = ("positions", "values", "codebook", "format", "total")


def _fields(obj, names) -> dict:
    return {n: getattr(obj, n, None) for n in names}


def layer_size(mask, indices, bits, codebook_entries=None) -> dict:
    """The student's layer_size, its LayerSize's fields as they are."""
    r = importlib.import_module("compress").layer_size(mask, indices, bits, codebook_entries)
    return {"type": type(r).__name__, **_fields(r, SIZE_FIELDS)}


def deep_compress(spec: list, state: dict, x, labels, seed: int) -> dict:
    """The student's deep_compress, with its defaults, on the trained network: the network's state
    afterwards and the ModelSize's fields as they are."""
    model = build(spec, state)
    size = importlib.import_module("compress").deep_compress(model, torch.as_tensor(x), torch.as_tensor(labels), seed=seed)
    layers = getattr(size, "layers", None)
    return {
        "state": _state(model),
        "size": {
            "layers": {str(k): _fields(v, SIZE_FIELDS) for k, v in layers.items()} if isinstance(layers, dict) else None,
            "dense": getattr(size, "dense", None),
            "bits": getattr(size, "bits", None),
        },
    }
