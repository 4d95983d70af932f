"""Training: model matrices, LightGBM delay and value models, calibration, evaluation against the
simulator's oracle, TreeSHAP reasons and the BentoML model registry.

The service uses :func:`training.registry.load_champion` and :func:`training.matrix.to_matrix`.
"""
