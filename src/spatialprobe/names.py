"""Every fixed name a config accepts, in one module that imports nothing (so `spatialprobe ls` can
print them without torch). The modules that implement them take their tuples from here."""

CONNECTORS = ("linear", "mlp", "qformer", "perceiver")
"""Toy / lab connector types."""
ENCODER_OBJECTIVES = ("contrastive", "labels", "masked", "random")
"""How a lab encoder is pretrained (``random``: not at all, the control)."""
CONNECTOR_OBJECTIVES = ("coarse", "spatial", "location", "query_location")
"""Losses a lab connector trains with (a preset: ``qformer+spatial+location@contrastive``)."""
TOY_PRESETS = ("tiny-linear", "tiny-qformer", "small-linear", "small-qformer")
"""``toy:<preset>`` models: random init, for tests and examples — not trained models."""
POOLS = ("all", "cls", "patches", "queries", "mean", "random_patch", "top_norm", "object_mean", "object_random")
"""How a probe reads a site's tokens."""
PROTOCOLS = ("frozen", "joint")
JOINT_TRAINED = ("frozen", "joint", "joint from random", "upper reference", "capacity-matched frozen")
"""Joint-protocol conditions that differ in what learns; blind and control task train as ``frozen``."""
JOINT_CONDITIONS = JOINT_TRAINED + ("blind", "control task")
CONTROLS = ("control_task", "blind", "random_init", "baselines")
"""Frozen-protocol controls of a probe config."""
TEXT_ENCODERS = ("bow", "minilm", "lm")
DTYPES = ("float32", "float16", "bfloat16")
"""Model dtypes for extraction (``--dtype``)."""
CONDITIONING = ("concat", "bilinear")
"""How text-conditioned designs combine pooled features with the text."""
TRAINING = ".train"
"""The suffix of a plan step's training folder beside its own (a recipe resumes there; the report never reads it)."""
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "undecidable", "not evaluated")
"""``not evaluated``: only in a partial report, for a claim whose steps have not finished."""
HF_NOT_YET = {
    "siglip2": "NaFlex SigLIP2 patchifies each image at its own resolution into a padded sequence: per-image layouts exist (the Idefics2 "
               "card reads padded frames), its card does not yet; fixed-resolution SigLIP2 checkpoints are model_type siglip",
    "florence2": "DaViT's stages are 4-D maps at several resolutions and its LM is an encoder-decoder: not built yet",
}
"""Hugging Face model types known and refused, with the reason (`models ls` prints them)."""
