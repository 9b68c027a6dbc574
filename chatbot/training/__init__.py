"""Fine-tuning retrieval on the shop's own knowledge base.

The pieces, each in its own module: the training data and the held-out split built from the
knowledge base (`data`, with cheap rule-based variants in `variants`), fine-tuning the embedder
with sentence-transformers' trainer (`finetune`, `sampler`), measuring before and after and
setting the decline threshold on the held-out questions (`evaluation`), the versions kept in the
data dir (`versions`), the settings file (`config`) and the job that runs them in order with
progress and cancel (`job`). Nothing here imports torch until a training starts.
"""
