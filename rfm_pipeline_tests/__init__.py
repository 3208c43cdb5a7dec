import rfm_pipeline  # noqa: F401  (first: it fixes the numeric targets before numpy loads)
