"""Hugging Face Trainer with the backprop callback: a 2-layer GPT-2 built from a config with a
tiny vocabulary, trained on random tokens (CPU, no hub download).

    HF_HUB_OFFLINE=1 backprop run -m 1 examples/huggingface_example.py
    backprop resume RUN        # trainer.train(resume_from_checkpoint=...) goes on from there
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

import backprop_core as bp
from backprop_core.integrations.huggingface import BackpropCallback


def main() -> None:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=128,
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    tokens = torch.randint(0, config.vocab_size, (512, 32))
    data = [{"input_ids": t, "labels": t} for t in tokens]
    args = TrainingArguments(
        output_dir="hf-example-output",
        num_train_epochs=20,
        per_device_train_batch_size=16,
        logging_steps=10,
        save_steps=200,
        save_total_limit=2,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        callbacks=[BackpropCallback(name="hf-example")],
    )
    trainer.train(resume_from_checkpoint=bp.resume_from())


if __name__ == "__main__":
    main()
