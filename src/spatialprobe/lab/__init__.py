"""The V&L lab: train a small vision-language model in-process — encoders, a frozen LM, connectors.

Stages, each cached by the hash of its training config: vision encoder pretraining
(`encoders`), LM pretraining with soft-prefix teaching (`lm`), connector training through the
frozen LM with pluggable losses (`trainer`), then captioning and its scores (`captioning`). The
trained models are toy checkpoints (`toy:<dir>`), so everything downstream reads them through the
model interface like any Hugging Face model.
"""
