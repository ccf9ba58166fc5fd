"""Transfer-learning methods, one small module each.

* :mod:`.regularization`: L2-SP and feature-distance penalties for fine-tuning.
* :mod:`.distillation`: the knowledge-distillation loss.
* :mod:`.gradient_reversal`: the gradient reversal layer.
* :mod:`.dann`: domain-adversarial training (DANN) and the proxy A-distance.

Each loss here has the signature ``loss_fn(model, inputs, labels) -> (loss, logits)``
so it plugs straight into :func:`tlcourse.training.fit`.
"""
