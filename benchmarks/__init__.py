"""Benchmarks, run on demand (`make bench`), never part of the test suite."""

# Before any benchmark loads numpy: the package fixes the targets numpy, numba and OpenBLAS
# compute for, so `python -m benchmarks.<name>` gives the segments the pipeline gives (loaded
# after numpy, the 1-million-customer segmentation chose k = 8 here instead of 6).
import rfm_pipeline  # noqa: F401
